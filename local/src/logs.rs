//! Function logs: every replica's stdout and stderr, line by line, echoed to greyfaas's
//! own stderr and kept (the last few thousand lines per function), with a live feed of
//! new lines, for `/system/logs` (`system::logs`).

use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::broadcast;

/// Lines kept per function for later `faas-cli logs` calls.
const KEPT: usize = 5000;

/// One line a replica printed.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub instance: String,
    pub timestamp: DateTime<Utc>,
    pub text: String,
}

/// One function's recent lines, and the live feed for `follow`.
pub struct Logs {
    name: String,
    recent: Mutex<VecDeque<Arc<LogLine>>>,
    live: broadcast::Sender<Arc<LogLine>>,
}

impl Logs {
    pub fn new(name: &str) -> Logs {
        Logs {
            name: name.to_string(),
            recent: Mutex::new(VecDeque::new()),
            live: broadcast::channel(1024).0,
        }
    }

    fn push(&self, instance: &str, text: String) {
        eprintln!("{} ({instance}) {text}", self.name);
        let line = Arc::new(LogLine {
            instance: instance.to_string(),
            timestamp: Utc::now(),
            text,
        });
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.push_back(line.clone());
        while recent.len() > KEPT {
            recent.pop_front();
        }
        let _ = self.live.send(line);
    }

    /// Reads `output` (a replica's stdout or stderr) line by line until it closes.
    pub fn capture(
        self: &Arc<Logs>,
        instance: String,
        output: impl AsyncRead + Unpin + Send + 'static,
    ) {
        let logs = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(output).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                logs.push(&instance, line);
            }
        });
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kept lines `wanted` picks, oldest first.
    pub fn recent(&self, wanted: impl Fn(&LogLine) -> bool) -> Vec<Arc<LogLine>> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().filter(|l| wanted(l)).cloned().collect()
    }

    /// Every line printed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogLine>> {
        self.live.subscribe()
    }
}
