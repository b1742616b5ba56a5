#![allow(clippy::print_stdout)]
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use std::time::Duration;
fn main() {
    let brokers = std::env::args().nth(1).unwrap();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "probe")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    for p in 0..3 {
        println!(
            "p{p} watermarks {:?}",
            c.fetch_watermarks("access", p, Duration::from_secs(2))
        );
    }
    c.subscribe(&["access"]).unwrap();
    let mut max = [-1i64; 3];
    let mut count = [0u64; 3];
    let mut idle = 0;
    while idle < 30 {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let p = m.partition() as usize;
                max[p] = max[p].max(m.offset());
                count[p] += 1;
                idle = 0;
            }
            Some(Err(e)) => println!("event {e} counts so far {count:?}"),
            None => idle += 1,
        }
    }
    println!("max offsets {max:?} counts {count:?}");
    for p in 0..3 {
        println!(
            "p{p} watermarks after {:?}",
            c.fetch_watermarks("access", p, Duration::from_secs(2))
        );
    }
}
