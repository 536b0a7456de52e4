//! Whether each schema of a catalog is FULL-compatible with every earlier version of it:
//! those committed to git, and those registered under its subject. Together, FULL_TRANSITIVE.

use std::path::Path;

use apache_avro::Schema;
use causeway_infra::avro::{CodecError, EventSchema, RegistryAdmin, SchemaCatalog};

use super::compat::check_full;
use super::history::{checkout_root, committed_versions, is_shallow};

/// What a check found: problems fail it, notices only inform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Reasons the check fails, one sentence each, naming the event type.
    pub problems: Vec<String>,
    /// What was skipped or limited, and why.
    pub notices: Vec<String>,
    /// How many earlier versions were compared.
    pub compared: usize,
}

impl Findings {
    /// Adds `other`'s findings to these.
    pub fn merge(&mut self, other: Findings) {
        self.problems.extend(other.problems);
        self.notices.extend(other.notices);
        self.compared += other.compared;
    }
}

/// Compares every schema with each version of its file committed to the git checkout
/// holding `dir` (`schemas/<path>` below the checkout's top folder). Outside a checkout,
/// a notice and nothing else.
pub fn check_git_history(catalog: &SchemaCatalog, dir: &Path) -> Findings {
    let mut findings = Findings::default();
    let root = match checkout_root(dir) {
        Ok(root) => root,
        Err(error) => {
            findings.notices.push(format!(
                "git history not checked: not in a git checkout ({error})"
            ));
            return findings;
        }
    };
    if is_shallow(&root).unwrap_or(false) {
        findings.notices.push(
            "shallow git checkout: only the fetched part of the history is checked".to_owned(),
        );
    }
    for schema in catalog.iter() {
        let file = format!("schemas/{}", schema.path());
        match committed_versions(&root, &file) {
            Ok(versions) => {
                for version in versions {
                    let label = format!("{file} as committed in {}", version.commit);
                    compare(schema, &version.text, &label, &mut findings);
                }
            }
            Err(error) => findings.problems.push(format!(
                "{}: cannot read the history of {file}: {error}",
                schema.event_type()
            )),
        }
    }
    findings
}

/// Compares every schema with each version registered under its subject on its topic
/// (`topic_of` answers a schema's topic, `None` when its folder is no aggregate's).
/// When the registry does not answer, a notice and nothing else.
pub async fn check_registry(
    catalog: &SchemaCatalog,
    admin: &RegistryAdmin,
    topic_of: impl Fn(&EventSchema) -> Option<String>,
) -> Findings {
    let mut findings = Findings::default();
    if let Err(error) = admin.ping().await {
        findings
            .notices
            .push(format!("registry versions not checked: {error}"));
        return findings;
    }
    for schema in catalog.iter() {
        let Some(topic) = topic_of(schema) else {
            findings.problems.push(format!(
                "{}: schemas/{} is in no aggregate's schema folder",
                schema.event_type(),
                schema.path()
            ));
            continue;
        };
        let subject = schema.subject(&topic);
        if let Err(error) = check_subject(schema, admin, &subject, &mut findings).await {
            findings
                .problems
                .push(format!("{}: {error}", schema.event_type()));
        }
    }
    findings
}

async fn check_subject(
    schema: &EventSchema,
    admin: &RegistryAdmin,
    subject: &str,
    findings: &mut Findings,
) -> Result<(), CodecError> {
    for version in admin.versions(subject).await? {
        let text = admin.schema(subject, version).await?;
        let label = format!("version {version} of subject {subject}");
        compare(schema, &text, &label, findings);
    }
    Ok(())
}

fn compare(schema: &EventSchema, earlier: &str, label: &str, findings: &mut Findings) {
    findings.compared += 1;
    let event_type = schema.event_type();
    match Schema::parse_str(earlier) {
        Ok(old) => {
            if let Err(incompatible) = check_full(&old, schema.schema()) {
                findings.problems.push(format!(
                    "{event_type}: schemas/{} is not FULL-compatible with {label}: {incompatible}",
                    schema.path()
                ));
            }
        }
        Err(error) => findings.problems.push(format!(
            "{event_type}: {label} is not a valid Avro schema: {error}"
        )),
    }
}
