//! Lists every file under `web/` for `src/web.rs` to embed with `include_bytes!`, so the
//! binary serves its pages with no files beside it and no build step of their own.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, "", &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for name in &files {
        println!("cargo:rerun-if-changed={}", root.join(name).display());
        out.push_str(&format!(
            "    ({name:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/web/\", {name:?})) as &[u8]),\n"
        ));
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("web_files.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}

fn walk(dir: &Path, prefix: &str, files: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).expect("crates/api/web exists");
    for entry in entries {
        let entry = entry.expect("readable directory entry");
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().expect("file type").is_dir() {
            walk(&entry.path(), &format!("{name}/"), files);
        } else if !name.starts_with('.') && !name.contains("/.") {
            files.push(name);
        }
    }
}
