//! The one way these tests run a role as a process of its own: `causeway serve --roles X`,
//! the binary built beside the tests, configured through `CAUSEWAY_…` variables.
//!
//! [`RoleProcess::command`] builds what to run: the roles, the settings the process shares
//! with the test (its database, its topic prefix and, for the roles that read them, the
//! relay's and the sagas' sections), an HTTP port, extra variables, and where its log goes.
//! [`RoleCommand::start`] spawns it; the [`RoleProcess`] it answers can wait until the
//! process listens, be killed (SIGKILL) and restarted, and is killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use causeway_infra::Settings;

use crate::{causeway_binary, wait_until_live};

/// What to run: `causeway serve --roles <roles>` with its environment.
#[derive(Debug, Clone)]
pub struct RoleCommand {
    roles: String,
    port: u16,
    management_port: u16,
    env: Vec<(String, String)>,
    extra: Vec<(String, String)>,
    stderr: Option<PathBuf>,
    stdout: Option<PathBuf>,
}

impl RoleCommand {
    /// Listens on `port` (0, the default, lets the process pick one nobody is told of).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Its management listener (`/metrics`, detailed `/health/ready`) on `port` (0, the
    /// default, lets the process pick one).
    pub fn management_port(mut self, port: u16) -> Self {
        self.management_port = port;
        self
    }

    /// Sets `key` to `value` in the process's environment, after (so over) everything
    /// derived from the settings.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// [`RoleCommand::env`] for each of `vars`, in order.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.extra
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Appends the process's standard error to the file at `path` (created if missing)
    /// instead of passing it through to the test's.
    pub fn stderr_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.stderr = Some(path.into());
        self
    }

    /// Appends the process's standard output (its log lines) to the file at `path` instead
    /// of discarding it.
    pub fn stdout_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.stdout = Some(path.into());
        self
    }

    /// Starts the process.
    pub fn start(self) -> RoleProcess {
        let child = self.spawn();
        RoleProcess {
            command: self,
            child: Some(child),
        }
    }

    fn spawn(&self) -> Child {
        let stderr = self.stderr.as_ref().map_or_else(Stdio::inherit, append_to);
        let stdout = self.stdout.as_ref().map_or_else(Stdio::null, append_to);
        Command::new(causeway_binary())
            .args(["serve", "--roles", &self.roles])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("CAUSEWAY_HTTP__PORT", self.port.to_string())
            .env(
                "CAUSEWAY_HTTP__MANAGEMENT_PORT",
                self.management_port.to_string(),
            )
            .envs(self.extra.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("start causeway serve --roles {}: {error}", self.roles))
    }
}

/// A running `causeway serve --roles …` child process, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct RoleProcess {
    command: RoleCommand,
    child: Option<Child>,
}

impl RoleProcess {
    /// What to run for `roles` (comma-separated, as `--roles` takes them) with `settings`:
    /// their database and topic prefix; the relay's section when `roles` has the relay and
    /// the sagas' retry and deadline polling when it has the sagas; no trace export; warnings
    /// and worse logged. Port 0 until [`RoleCommand::port`] says otherwise.
    pub fn command(roles: &str, settings: &Settings) -> RoleCommand {
        RoleCommand {
            roles: roles.to_owned(),
            port: 0,
            management_port: 0,
            env: settings_env(roles, settings),
            extra: Vec::new(),
            stderr: None,
            stdout: None,
        }
    }

    /// Starts `roles` with `settings` on a port of the process's choosing; see
    /// [`RoleProcess::command`] for what is passed.
    pub fn start(roles: &str, settings: &Settings) -> Self {
        Self::command(roles, settings).start()
    }

    /// The HTTP port asked for (0: the process picked one).
    pub fn port(&self) -> u16 {
        self.command.port
    }

    /// `http://127.0.0.1:<port>`, for a process started with a port of its own.
    pub fn base_url(&self) -> String {
        assert_ne!(
            self.port(),
            0,
            "the process was started without a known port"
        );
        format!("http://127.0.0.1:{}", self.port())
    }

    /// `http://127.0.0.1:<management port>`, for a process started with one of its own.
    pub fn management_url(&self) -> String {
        let port = self.command.management_port;
        assert_ne!(
            port, 0,
            "the process was started without a known management port"
        );
        format!("http://127.0.0.1:{port}")
    }

    /// Waits up to 30 s until the process answers `/health/live` with success.
    pub async fn wait_until_live(&self, client: &reqwest::Client) {
        wait_until_live(client, &self.base_url()).await;
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the process is running (not killed)")
    }

    /// SIGKILL, then reap. Does nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process if it runs, then starts it again as it was started.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(self.command.spawn());
    }

    /// [`RoleProcess::restart`], with `extra` variables from now on.
    pub fn restart_with(&mut self, extra: &[(&str, &str)]) {
        self.kill();
        self.command.extra.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.child = Some(self.command.spawn());
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The file at `path`, created if missing, opened for appending.
fn append_to(path: &PathBuf) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .unwrap_or_else(|error| panic!("open {}: {error}", path.display()))
}

/// The settings a role process shares with the test, as `CAUSEWAY_…` variables.
fn settings_env(roles: &str, settings: &Settings) -> Vec<(String, String)> {
    let has = |role: &str| roles.split(',').any(|r| r.trim() == role);
    let mut vars = vec![
        (
            "DATABASE__DATABASE_NAME",
            settings.database.database_name.clone(),
        ),
        ("KAFKA__TOPIC_PREFIX", settings.kafka.topic_prefix.clone()),
        // As in-process apps: no quota for the tests' admin token.
        ("RATE_LIMIT__PER_ROLE_PER_MINUTE__ADMIN", "0".to_owned()),
    ];
    if has("relay") {
        let relay = &settings.relay;
        vars.extend([
            ("RELAY__CHECKPOINT_TOPIC", relay.checkpoint_topic.clone()),
            ("RELAY__DELIVERY", relay.delivery.as_str().to_owned()),
            ("RELAY__TRANSACTIONAL_ID", relay.transactional_id.clone()),
            ("RELAY__LOCK_KEY", relay.lock_key.to_string()),
            ("RELAY__BATCH_SIZE", relay.batch_size.to_string()),
            (
                "RELAY__STANDBY_RETRY_MS",
                relay.standby_retry_ms.to_string(),
            ),
        ]);
    }
    if has("sagas") {
        let sagas = &settings.sagas;
        vars.extend([
            (
                "SAGAS__REACTION_BACKOFF_MS",
                sagas.reaction_backoff_ms.to_string(),
            ),
            (
                "SAGAS__REACTION_BACKOFF_MAX_MS",
                sagas.reaction_backoff_max_ms.to_string(),
            ),
            (
                "SAGAS__DEADLINE_POLL_MS",
                sagas.deadline_poll_ms.to_string(),
            ),
        ]);
    }
    vars.push(("TELEMETRY__OTLP_ENDPOINT", String::new()));
    vars.into_iter()
        .map(|(key, value)| (format!("CAUSEWAY_{key}"), value))
        .chain([("RUST_LOG".to_owned(), "warn".to_owned())])
        .collect()
}
