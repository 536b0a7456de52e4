//! The committed versions of a schema file, read with the `git` command line.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One committed version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedVersion {
    /// The commit, abbreviated.
    pub commit: String,
    /// The file's text in that commit.
    pub text: String,
}

/// A `git` call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("git {command}: {message}")]
pub struct GitError {
    /// The arguments, e.g. `log --format=%h -- schemas/order/OrderPlaced.avsc`.
    pub command: String,
    /// What git (or the OS) said.
    pub message: String,
}

/// The top folder of the git checkout holding `dir`; the error says why there is none
/// (not a checkout, or no `git` installed).
pub fn checkout_root(dir: &Path) -> Result<PathBuf, GitError> {
    git(dir, &["rev-parse", "--show-toplevel"]).map(|out| PathBuf::from(out.trim_end()))
}

/// Whether the checkout is shallow, i.e. its history is cut off.
pub fn is_shallow(root: &Path) -> Result<bool, GitError> {
    git(root, &["rev-parse", "--is-shallow-repository"]).map(|out| out.trim() == "true")
}

/// Every committed version of `file` (relative to `root`), newest first, identical texts
/// once. Commits that deleted the file are skipped; a renamed file's history starts at the
/// rename (no `--follow`).
pub fn committed_versions(root: &Path, file: &str) -> Result<Vec<CommittedVersion>, GitError> {
    let log = git(
        root,
        &["log", "--format=%h", "--diff-filter=ACMRT", "--", file],
    )?;
    let mut versions: Vec<CommittedVersion> = Vec::new();
    for commit in log.lines().map(str::trim).filter(|c| !c.is_empty()) {
        let text = git(root, &["show", &format!("{commit}:{file}")])?;
        if versions.iter().all(|v| v.text != text) {
            versions.push(CommittedVersion {
                commit: commit.to_owned(),
                text,
            });
        }
    }
    Ok(versions)
}

fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let error = |message: String| GitError {
        command: args.join(" "),
        message,
    };
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| error(e.to_string()))?;
    if !output.status.success() {
        return Err(error(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| error(e.to_string()))
}
