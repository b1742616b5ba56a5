//! Integration tests: the `weir` binary against real Redis servers, with the
//! example rules built as WebAssembly components, checked against an
//! independent oracle (`tests/tools/expected.py`).

#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failed set-up step should fail the test"
)]

mod aggregates;
mod bad_input;
mod cluster;
mod cluster_jobs;
mod cluster_kafka;
mod cluster_outbox;
mod cluster_support;
mod crash;
mod dashboard;
mod exactness;
mod examples;
mod http_support;
mod jobs;
mod kafka;
mod kafka_check;
mod kafka_event_time;
mod kafka_jobs;
mod kafka_lateness;
mod kafka_routing;
mod kafka_support;
mod kit;
mod merge;
mod python_rules;
mod reload;
mod reload_edges;
mod reset;
mod restarts;
mod result_store;
mod sandbox;
mod secure;
mod secure_kafka;
mod several_sources;
mod sources;
mod support;
mod time_zones;
mod webhook;
mod weir_test;
