//! The bearer token the demo sends: given (`--token`), or printed on the last line of
//! `--token-command` (e.g. `scripts/token admin demo`), which is run again every
//! [`REFRESH_EVERY`] so a long run outlives its tokens.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};

/// How often `--token-command` is run again: well within the local issuer's one-hour tokens.
pub(super) const REFRESH_EVERY: Duration = Duration::from_secs(20 * 60);

/// The current token, shared by every request of the demo.
#[derive(Clone)]
pub(super) struct Bearer {
    current: Arc<RwLock<String>>,
}

impl Bearer {
    /// From `--token`, or by running `--token-command` (then again every [`REFRESH_EVERY`],
    /// in a task that lives as long as the runtime).
    pub(super) async fn start(
        token: Option<String>,
        command: Option<String>,
    ) -> anyhow::Result<Self> {
        let first = match (&token, &command) {
            (Some(token), _) => token.clone(),
            (None, Some(command)) => run(command).await?,
            (None, None) => bail!(
                "the API needs a bearer token: pass --token or --token-command \
                 (e.g. --token-command 'scripts/token admin demo')"
            ),
        };
        let bearer = Self {
            current: Arc::new(RwLock::new(first)),
        };
        if let (None, Some(command)) = (token, command) {
            let refreshed = bearer.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(REFRESH_EVERY).await;
                    match run(&command).await {
                        Ok(token) => refreshed.set(token),
                        Err(error) => tracing::warn!(%error, "refreshing the demo's token failed"),
                    }
                }
            });
        }
        Ok(bearer)
    }

    /// The token to send now.
    pub(super) fn get(&self) -> String {
        self.current
            .read()
            .map(|token| token.clone())
            .unwrap_or_default()
    }

    fn set(&self, token: String) {
        if let Ok(mut current) = self.current.write() {
            *current = token;
        }
    }
}

/// Runs `command` with `sh -c`; its last line of output is the token.
async fn run(command: &str) -> anyhow::Result<String> {
    let output = tokio::process::Command::new("sh")
        .args(["-c", command])
        .output()
        .await
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let token = stdout.lines().last().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        bail!("{command:?} printed no token");
    }
    Ok(token)
}
