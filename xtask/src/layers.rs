//! The layer rule of ARCHITECTURE.md, checked over `cargo metadata`:
//! Odeon crates depend only on crates of lower layers, and no crate below
//! `odeon-notebook` pulls in the script engine or anything of the web page.

/// Layer of each workspace crate; a crate may depend on lower layers only.
pub(crate) const LAYERS: &[(&str, u32)] = &[
    ("odeon-tensor", 0),
    ("odeon-gpu", 1),
    ("odeon-autodiff", 1),
    ("odeon-nn", 2),
    ("odeon-solve", 3),
    ("odeon-methods", 4),
    ("odeon-notebook", 5),
    ("odeon-worker", 6),
    ("odeon-widget", 6),
    ("odeon-cli", 6),
    ("odeon-bench", 6),
    ("odeon-app", 7),
];

/// Dependencies that only the notebook layer and above may use.
pub(crate) const UI_OR_SCRIPT: &[&str] = &["rhai", "leptos", "web-sys", "wasm-bindgen", "js-sys", "serde-wasm-bindgen"];

/// Every violation of the layer rule, as sentences.
pub(crate) fn violations(metadata: &serde_json::Value) -> Vec<String> {
    let layer = |name: &str| LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l);
    let mut problems = Vec::new();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    for package in &packages {
        let name = package["name"].as_str().unwrap_or_default();
        if name == "xtask" {
            continue;
        }
        let Some(own) = layer(name) else {
            problems.push(format!("{name} has no layer: add it to xtask/src/layers.rs and ARCHITECTURE.md"));
            continue;
        };
        for dep in package["dependencies"].as_array().cloned().unwrap_or_default() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if dep["kind"].as_str() == Some("dev") {
                continue;
            }
            if let Some(dep_layer) = layer(dep_name)
                && dep_layer >= own
            {
                problems.push(format!("{name} (layer {own}) depends on {dep_name} (layer {dep_layer})"));
            }
            if own < 5 && UI_OR_SCRIPT.contains(&dep_name) && name != "odeon-gpu" {
                problems.push(format!("{name} is a numerical crate but depends on {dep_name}"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> serde_json::Value {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(crate::workspace_root())
            .output()
            .expect("cargo metadata runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
    }

    #[test]
    fn layers_point_down() {
        let problems = violations(&metadata());
        assert!(problems.is_empty(), "layer rule broken:\n{}", problems.join("\n"));
    }

    #[test]
    fn the_check_catches_an_upward_arrow() {
        let fake = serde_json::json!({ "packages": [
            { "name": "odeon-tensor", "dependencies": [ { "name": "odeon-nn", "kind": null } ] },
            { "name": "odeon-nn", "dependencies": [ { "name": "rhai", "kind": null } ] },
        ]});
        let problems = violations(&fake);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
