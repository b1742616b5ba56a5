//! Telling the world about alerts: the webhook outbox.

pub mod webhook;
