//! Embeds every `.avsc` file of the workspace's `schemas/` folder into the crate, so the
//! binary carries its contracts and needs no files at run time (`avro::SchemaCatalog`), and
//! rebuilds the crate when `migrations/` changes (embedded by `db::MIGRATOR`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("..").join("schemas");
    // A directory is scanned recursively: adding, changing or removing a schema rebuilds.
    println!("cargo::rerun-if-changed={}", root.display());
    // `sqlx::migrate!` embeds `migrations/` at compile time but does not tell cargo to watch
    // it: a new migration must rebuild this crate.
    println!(
        "cargo::rerun-if-changed={}",
        manifest.join("..").join("migrations").display()
    );
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut code = String::from(
        "/// Every `.avsc` file of `schemas/`: its path relative to `schemas/`, and its text.\n\
         pub(crate) const EMBEDDED_SCHEMAS: &[(&str, &str)] = &[\n",
    );
    for (relative, absolute) in files {
        code.push_str(&format!(
            "    ({relative:?}, include_str!({absolute:?})),\n"
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("embedded_schemas.rs"), code).expect("write embedded_schemas.rs");
}

/// Every `.avsc` below `dir`, as (path relative to `root` with `/` separators, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.extension().is_some_and(|ext| ext == "avsc") {
            let relative = path
                .strip_prefix(root)
                .expect("below the schemas root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let absolute = path.canonicalize().expect("canonical schema path");
            files.push((relative, absolute.to_string_lossy().into_owned()));
        }
    }
}
