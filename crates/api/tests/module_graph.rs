//! The API crate's modules form layers: no module reaches, directly or through others, back
//! into a module that uses it. Read from the source: a module's `crate::…` and `super::…`
//! paths outside its unit tests (a test may look anywhere). The crate root (`lib.rs`: the app
//! state and the router) and the routes' root (`routes/mod.rs`: their router) are the trees'
//! roots, which name their children and are named by them, and are left out. Each file under `src/` is a module,
//! except that `routes/X/…` counts as `routes::X` and a directory `X/…` as `X` (its `mod.rs` included).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// A file's module path: `routes/admin/users.rs` → `[routes, admin, users]`, `booking/mod.rs`
/// → `[booking]`.
fn path_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> =
        relative.with_extension("").iter().map(|part| part.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The module a path belongs to for this test: two levels under `routes`, else one.
fn module_key(path: &[String]) -> String {
    let depth = if path.first().is_some_and(|first| first == "routes") { 2 } else { 1 };
    path[..depth.min(path.len())].join("::")
}

fn identifier(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len());
    &text[..end]
}

/// The first two segments of every path a `use` tree (or an expression's path) names:
/// `a::b::c` → `[a, b]`, `{a, b::{c, d}}` → `[a]`, `[b, c]`, `[b, d]`.
fn named_paths(text: &str) -> Vec<Vec<String>> {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let (mut depth, mut start, mut items) = (0, 0, Vec::new());
        for (at, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&group[start..at]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&group[start..at]);
                    start = at + 1;
                }
                _ => {}
            }
        }
        return items.into_iter().flat_map(named_paths).collect();
    }
    let first = identifier(text);
    if first.is_empty() || first == "self" {
        return Vec::new();
    }
    match text[first.len()..].strip_prefix("::") {
        Some(rest) => {
            let seconds = named_paths(rest);
            if seconds.is_empty() {
                vec![vec![first.to_owned()]]
            } else {
                seconds.into_iter().map(|second| vec![first.to_owned(), second[0].clone()]).collect()
            }
        }
        None => vec![vec![first.to_owned()]],
    }
}

/// The modules a file names through `crate::…` and `super::…`, outside its unit tests.
fn named_modules(file: &[String], source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or(source);
    let mut named = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        for path in named_paths(&code[at + "crate::".len()..]) {
            named.insert(module_key(&path));
        }
    }
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("super::") {
            continue; // counted from the first `super::` of the chain
        }
        let mut rest = &code[at + "super::".len()..];
        let mut base = file[..file.len().saturating_sub(1)].to_vec();
        while let Some(further) = rest.strip_prefix("super::") {
            base.pop();
            rest = further;
        }
        for path in named_paths(rest) {
            named.insert(module_key(&[base.clone(), path].concat()));
        }
    }
    named
}

#[test]
fn the_api_crate_has_no_import_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let path = path_of(file.strip_prefix(&root).expect("under src/"));
        let module = module_key(&path);
        if module == "lib" || module == "routes" {
            continue;
        }
        let source = fs::read_to_string(file).expect("a readable source");
        let uses = named_modules(&path, &source);
        graph.entry(module.clone()).or_default().extend(uses.into_iter().filter(|used| *used != module));
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    assert!(modules.contains("idempotency") && modules.contains("routes::admin"), "read {modules:?}");
    for uses in graph.values_mut() {
        uses.retain(|used| modules.contains(used));
    }

    // Every module reachable from each one; a module that reaches itself is in a cycle.
    let mut cycles = Vec::new();
    for start in &modules {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((module, path)) = stack.pop() {
            for used in &graph[&module] {
                if used == start {
                    cycles.push([path.clone(), vec![start.clone()]].concat().join(" → "));
                } else if seen.insert(used.clone()) {
                    stack.push((used.clone(), [path.clone(), vec![used.clone()]].concat()));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_reader_sees_every_kind_of_path() {
    let file = |path: &str| path_of(Path::new(path));
    let auth = named_modules(&file("auth.rs"), "use crate::security::SessionUser;\nfn f() {}");
    assert_eq!(auth, BTreeSet::from(["security".to_owned()]));
    let grouped =
        named_modules(&file("booking/mod.rs"), "use crate::{AppState, audit, routes::{page, admin::X}};");
    let expected = ["AppState", "audit", "routes::admin", "routes::page"];
    assert_eq!(grouped, expected.iter().map(|name| name.to_string()).collect());
    let route =
        named_modules(&file("routes/queue.rs"), "use super::admin::TAG_ADMIN; use crate::routes::schema;");
    assert_eq!(route, BTreeSet::from(["routes::admin".to_owned(), "routes::schema".to_owned()]));
    // Inside routes/admin/, `super::` is the admin module itself and `super::super::` is routes.
    let nested =
        named_modules(&file("routes/admin/users.rs"), "use super::TAG_ADMIN; use super::super::catalog::x;");
    assert_eq!(nested, BTreeSet::from(["routes::admin".to_owned(), "routes::catalog".to_owned()]));
    let tested =
        named_modules(&file("auth.rs"), "fn f() {}\n#[cfg(test)]\nmod tests {\n use crate::security::X;\n}");
    assert!(tested.is_empty(), "unit tests may name any module");
    assert_eq!(module_key(&file("routes/admin/users.rs")), "routes::admin");
    assert_eq!(module_key(&file("booking/mod.rs")), "booking");
}
