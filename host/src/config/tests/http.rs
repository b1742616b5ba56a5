//! `[http] listen`: the default, off, and a bad address.

use super::*;

#[test]
fn http_listens_on_loopback_9464_by_default() {
    let config = Config::parse(MINIMAL).unwrap();
    assert_eq!(config.http.listen, Some("127.0.0.1:9464".parse().unwrap()));
}

#[test]
fn empty_listen_turns_the_server_off() {
    let config = Config::parse(&minimal_with("[http]\nlisten = \"\"\n")).unwrap();
    assert_eq!(config.http.listen, None);
    let config = Config::parse(&minimal_with("[http]\nlisten = \"0.0.0.0:8080\"\n")).unwrap();
    assert_eq!(config.http.listen, Some("0.0.0.0:8080".parse().unwrap()));
}

#[test]
fn a_bad_listen_address_is_a_problem_with_its_key_path() {
    assert_problems(
        problems_of(&minimal_with("[http]\nlisten = \"localhost\"\nport = 1\n")),
        &[
            "http.listen: expected IP:port (such as \"127.0.0.1:9464\") or \"\" (off), found \"localhost\"",
            "http.port: unknown key (expected one of: listen)",
        ],
    );
}
