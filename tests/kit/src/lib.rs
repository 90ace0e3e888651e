//! The greyfaas test kit: what the end-to-end tests in `local/tests` and the load tools
//! in `bench` share.
//!
//! - [`up`]: `greyfaas up` started on a stack, on a free port with its own data folder,
//!   and waited for until it says it is up, and its `/system` API with the admin login;
//! - [`stacks`]: the stack files the tests run;
//! - [`corpus`]: the shared photo corpus beside the checkout, and checks on images;
//! - [`web`]: a loopback web server that serves the corpus and odd answers, and
//!   records callbacks;
//! - [`http`]: free ports and clients;
//! - [`function`]: one function binary started alone, without gateway or store;
//! - [`process`]: children that die with the tests, signals, the embedded store's process;
//! - [`browser`]: headless Chromium over WebDriver, for the UI test.
//!
//! Everything here talks to loopback only.

pub mod browser;
pub mod corpus;
pub mod function;
pub mod http;
pub mod paths;
pub mod process;
pub mod stacks;
pub mod up;
pub mod web;

pub use corpus::{assert_grey, corpus, corpus_file, crc32, load_corpus, sha256_hex};
pub use function::start_function;
pub use http::{client, client_without_redirects, free_port};
pub use paths::{bin_dir, build_dir, corpus_dir, repo, scratch_dir};
pub use process::{
    eventually, process_alive, sigkill, sigterm, spawn_owned, store_pid, store_process,
};
pub use stacks::{ROLL_STACK, SCALING_STACK, STACK, UI_STACK, ZERO_STACK};
pub use up::{Launch, Up, WithAdminAuth, function_status, pids};
pub use web::{Callbacks, WebServer, callbacks_for, web_server};
