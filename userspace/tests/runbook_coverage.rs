//! docs/runbook.md has a section for every finding an SRE can get: every
//! `FindingKind` id is a `## ` heading, and every (kind, variant) the engine
//! produces on the scenario corpus (tests/scenarios) is covered — a variant
//! by its own `### ` heading or by name in its kind's section.

use std::collections::BTreeSet;
use std::path::PathBuf;

use lpmtrace::analysis::FindingKind;
use lpmtrace::scenario;

fn runbook() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/runbook.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the `## id` section (up to the next `## `).
fn section<'a>(doc: &'a str, id: &str) -> Option<&'a str> {
    let start = doc.find(&format!("\n## {id}\n"))?;
    let body = &doc[start + 1..];
    let end = body[3..].find("\n## ").map_or(body.len(), |i| i + 3);
    Some(&body[..end])
}

#[test]
fn every_finding_kind_has_a_section_with_what_to_do() {
    let doc = runbook();
    let mut missing = Vec::new();
    for kind in FindingKind::ALL {
        match section(&doc, kind.id()) {
            None => missing.push(format!("no `## {}` section", kind.id())),
            Some(text) => {
                if !text.contains("**Do:**") && !text.contains("**Do:** ") {
                    missing.push(format!("`## {}` says nothing under **Do:**", kind.id()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "docs/runbook.md:\n{}", missing.join("\n"));
}

#[test]
fn every_variant_the_engine_produces_is_explained() {
    let doc = runbook();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "scn") {
            continue;
        }
        let sc = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        for f in sc.analyse().findings {
            if let Some(v) = f.variant {
                seen.insert((f.kind.id(), v));
            }
        }
    }
    assert!(
        seen.len() >= 4,
        "the scenarios produce too few variants to check: {seen:?}"
    );
    let mut missing = Vec::new();
    for (kind, variant) in &seen {
        let text = section(&doc, kind).unwrap_or("");
        if !text.contains(&format!("### {variant}")) && !text.contains(&format!("`{variant}`")) {
            missing.push(format!("{kind}/{variant}"));
        }
    }
    assert!(missing.is_empty(), "docs/runbook.md does not explain: {missing:?}");
}
