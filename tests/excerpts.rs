//! The tour quotes the code it teaches, and the quotes cannot drift: a code block in docs/*.md
//! that follows a line
//!
//!     <!-- excerpt: PATH NAME -->
//!
//! must hold exactly the lines of PATH between the markers `[tour:NAME]` and `[/tour:NAME]`
//! (in a comment of that file's language, on lines of their own; the markers are not quoted),
//! with the region's common indentation removed. `DOCS_BLESS=1 cargo test --test excerpts`
//! rewrites the blocks from the sources (the test still fails; review with `git diff docs/`).

use std::path::{Path, PathBuf};

struct Excerpt {
    page: PathBuf,
    /// 0-based line numbers of the block's content: [first, end).
    first: usize,
    end: usize,
    source: String,
    name: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn excerpts(page: &Path) -> Vec<Excerpt> {
    let text = std::fs::read_to_string(page).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(spec) =
            line.trim().strip_prefix("<!-- excerpt:").and_then(|s| s.strip_suffix("-->"))
        else {
            continue;
        };
        let mut words = spec.split_whitespace();
        let (Some(source), Some(name), None) = (words.next(), words.next(), words.next()) else {
            panic!("{}:{}: `<!-- excerpt: PATH NAME -->`", page.display(), i + 1);
        };
        let fence = i + 1;
        assert!(
            lines.get(fence).is_some_and(|l| l.starts_with("```")),
            "{}:{}: an excerpt comment must be followed by a code block",
            page.display(),
            i + 1
        );
        let end = (fence + 1..lines.len())
            .find(|&j| lines[j].starts_with("```"))
            .unwrap_or_else(|| panic!("{}:{}: unclosed code block", page.display(), fence + 1));
        out.push(Excerpt {
            page: page.to_path_buf(),
            first: fence + 1,
            end,
            source: source.to_string(),
            name: name.to_string(),
        });
    }
    out
}

/// The marked region of `source`, dedented.
fn region(source: &str, name: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(root().join(source))
        .map_err(|e| format!("{source}: cannot be read: {e}"))?;
    let (open, close) = (format!("[tour:{name}]"), format!("[/tour:{name}]"));
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains(&open))
        .ok_or_else(|| format!("{source}: no marker {open}"))?;
    let stop = lines[start..]
        .iter()
        .position(|l| l.contains(&close))
        .map(|n| start + n)
        .ok_or_else(|| format!("{source}: no marker {close} after {open}"))?;
    let body = &lines[start + 1..stop];
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    Ok(body.iter().map(|l| l.get(indent..).unwrap_or("").trim_end().to_string()).collect())
}

#[test]
fn every_excerpt_in_the_tour_is_the_code_it_names() {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    let bless = std::env::var_os("DOCS_BLESS").is_some();
    let mut failures = Vec::new();
    let mut count = 0;
    for page in &pages {
        // Last first, so that a blessed block's new length does not move the ones above it.
        let mut found = excerpts(page);
        found.reverse();
        for ex in found {
            count += 1;
            let text = std::fs::read_to_string(&ex.page).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let shown: Vec<String> =
                lines[ex.first..ex.end].iter().map(|l| l.to_string()).collect();
            match region(&ex.source, &ex.name) {
                Err(e) => failures.push(format!("{}:{}: {e}", ex.page.display(), ex.first)),
                Ok(code) if code != shown => {
                    failures.push(format!(
                        "{}:{}: the excerpt {} {} differs from the code:\n{}",
                        ex.page.display(),
                        ex.first,
                        ex.source,
                        ex.name,
                        code.join("\n")
                    ));
                    if bless {
                        let mut new: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                        new.splice(ex.first..ex.end, code);
                        std::fs::write(&ex.page, new.join("\n") + "\n").unwrap();
                    }
                }
                Ok(_) => {}
            }
        }
    }
    assert!(count >= 10, "the tour quotes only {count} excerpts");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
