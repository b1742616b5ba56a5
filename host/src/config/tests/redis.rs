//! `[redis]`: credentials and TLS settings, checked when the config loads.

use super::*;

/// `MINIMAL`'s sections with `redis` as the `[redis]` table.
fn with_redis(redis: &str) -> String {
    format!("[source]\nkind = \"stdin\"\n[plugins]\ndir = \"plugins\"\n[redis]\n{redis}\n")
}

#[test]
fn a_password_comes_from_the_environment_or_a_file_and_never_prints() {
    // PATH is set wherever the tests run (tests cannot set variables safely).
    let config = Config::parse(&with_redis(
        "url = \"redis://db\"\nusername = \"weir\"\npassword_env = \"PATH\"",
    ))
    .expect("valid");
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(config.redis.username.as_deref(), Some("weir"));
    assert_eq!(
        config.redis.password.as_ref().map(Secret::expose),
        Some(path.as_str())
    );
    let shown = format!("{config:?}");
    assert!(shown.contains("password: Some(***)"), "{shown}");
    assert!(!config.has_inline_secret());

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("redis-password");
    std::fs::write(&file, "from-a-file\n").expect("write");
    let config = Config::parse(&with_redis(&format!(
        "url = \"redis://db\"\npassword_file = \"{}\"",
        file.display()
    )))
    .expect("valid");
    assert_eq!(
        config.redis.password.as_ref().map(Secret::expose),
        Some("from-a-file")
    );

    let inline = Config::parse(&with_redis("url = \"redis://weir:pw@db\"")).expect("valid");
    assert!(inline.has_inline_secret());
    assert_eq!(inline.redis.shown_url(), "redis://weir:***@db");
}

#[test]
fn wrong_credentials_and_tls_settings_are_all_reported() {
    let problems = problems_of(&with_redis(
        "url = \"redis://weir:pw@db\"\n\
         password_env = \"WEIR_SURELY_UNSET_VARIABLE\"\n\
         tls_cert_file = \"/nonexistent/client.pem\"\n\
         tls_insecure = true",
    ));
    assert_problems(
        problems,
        &[
            "redis.password_env: environment variable WEIR_SURELY_UNSET_VARIABLE is not set",
            "redis.tls_cert_file: /nonexistent/client.pem is not a readable file",
            "redis.tls_key_file: a client certificate needs both tls_cert_file and tls_key_file",
            "redis.url: tls_* keys are set, so the URL must start with rediss:// (TLS)",
        ],
    );
    let problems = problems_of(&with_redis(
        "url = \"rediss://weir:pw@db\"\npassword_env = \"PATH\"\npassword_file = \"x\"",
    ));
    assert_problems(
        problems,
        &["redis.password_file: give password_env or password_file, not both"],
    );
    let problems = problems_of(&with_redis(
        "url = \"rediss://weir:pw@db\"\npassword_env = \"PATH\"",
    ));
    assert_problems(
        problems,
        &["redis.url: has a password, and password_env/password_file gives another: keep one"],
    );
}

#[test]
fn a_cluster_takes_seed_nodes_from_urls_or_a_comma_separated_url() {
    let config = Config::parse(&with_redis(
        "cluster = true\nurls = [\"redis://a:7000\", \"redis://weir:pw@b:7001\"]",
    ))
    .expect("valid");
    assert!(config.redis.cluster);
    assert_eq!(
        config.redis.seeds,
        vec!["redis://a:7000", "redis://weir:pw@b:7001"]
    );
    assert_eq!(config.redis.url, "redis://a:7000");
    assert!(config.has_inline_secret(), "a seed's password counts");
    assert_eq!(
        config.redis.shown_url(),
        "cluster redis://a:7000,redis://weir:***@b:7001"
    );

    let config = Config::parse(&with_redis(
        "cluster = true\nurl = \"redis://a:7000, redis://b:7001\"",
    ))
    .expect("valid");
    assert_eq!(config.redis.seeds, vec!["redis://a:7000", "redis://b:7001"]);

    let single = Config::parse(&with_redis("url = \"redis://a:6379\"")).expect("valid");
    assert!(!single.redis.cluster);
    assert!(single.redis.seeds.is_empty());
}

#[test]
fn cluster_settings_that_cannot_work_are_refused() {
    assert_problems(
        problems_of(&with_redis("urls = [\"redis://a:7000\"]")),
        &["redis.urls: several seed URLs need cluster = true"],
    );
    assert_problems(
        problems_of(&with_redis(
            "cluster = true\nurl = \"unix:///tmp/redis.sock\"",
        )),
        &["redis.url: must start with redis:// or rediss:// (found \"unix:///tmp/redis.sock\")"],
    );
    assert_problems(
        problems_of(&with_redis(
            "cluster = true\nurls = [\"redis://a:7000\", \"rediss://b:7001\"]",
        )),
        &["redis.urls: seed nodes must all use TLS (rediss://) or none"],
    );
    assert_problems(
        problems_of(&with_redis("cluster = true\nurls = []")),
        &["redis.urls: must name at least one seed node"],
    );
}
