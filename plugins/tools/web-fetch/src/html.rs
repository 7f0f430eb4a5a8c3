//! Readable text from HTML: a small, forgiving tag scanner rather than a full HTML5 parser,
//! because the model only needs the words in reading order, and a browser-grade parser would
//! multiply the plugin's size and compile time. Script, style and page chrome are dropped;
//! block elements become line breaks, headings get `#` marks, list items `- `, and links keep
//! their target as `[text](href)`.

/// Elements whose whole content is dropped.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "head", "nav", "footer", "aside", "form",
    "iframe", "button", "select",
];

/// Elements that start a new line.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "br",
    "hr",
    "tr",
    "table",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "dd",
    "dt",
    "dl",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
];

pub struct Extracted {
    pub title: Option<String>,
    pub text: String,
}

pub fn extract(html: &str) -> Extracted {
    let title = find_title(html);
    let mut out = String::with_capacity(html.len() / 4);
    let mut skip_depth: Vec<String> = Vec::new();
    let mut pending_href: Vec<Option<String>> = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skip_depth.is_empty() {
                push_text(&mut out, rest);
            }
            break;
        };
        if skip_depth.is_empty() {
            push_text(&mut out, &rest[..lt]);
        }
        rest = &rest[lt..];
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let body = tag.trim_start_matches('/');
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        if let Some(open) = skip_depth.last() {
            if closing && *open == name {
                skip_depth.pop();
            } else if !closing && name == *open && !tag.ends_with('/') {
                skip_depth.push(name);
            }
            continue;
        }
        if SKIPPED.contains(&name.as_str()) {
            if !closing && !tag.ends_with('/') {
                skip_depth.push(name);
            }
            continue;
        }
        if name == "a" {
            if closing {
                if let Some(Some(href)) = pending_href.pop() {
                    out.push_str(&format!("]({href})"));
                }
            } else {
                let href = attribute(body, "href")
                    .filter(|h| h.starts_with("http://") || h.starts_with("https://"));
                if href.is_some() {
                    out.push('[');
                }
                pending_href.push(href);
            }
            continue;
        }
        if BLOCKS.contains(&name.as_str()) {
            newline(&mut out);
            if !closing {
                match name.as_str() {
                    "h1" => out.push_str("# "),
                    "h2" => out.push_str("## "),
                    "h3" | "h4" | "h5" | "h6" => out.push_str("### "),
                    "li" => out.push_str("- "),
                    _ => {}
                }
            }
        } else if name == "td" || name == "th" {
            out.push(' ');
        }
    }
    Extracted {
        title,
        text: tidy(&out),
    }
}

fn find_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = lower[start..].find('>')? + start + 1;
    let end = lower[open_end..].find("</title")? + open_end;
    let title = collapse(&decode_entities(&html[open_end..end]));
    (!title.is_empty()).then_some(title)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut search = 0;
    while let Some(pos) = lower[search..].find(name) {
        let at = search + pos;
        search = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let after = lower[search..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - after.len() + 1;
        let value = tag[value_start..].trim_start();
        let (quote, value) = match value.chars().next() {
            Some(q @ ('"' | '\'')) => (Some(q), &value[1..]),
            _ => (None, value),
        };
        let end = match quote {
            Some(q) => value.find(q).unwrap_or(value.len()),
            None => value
                .find(|c: char| c.is_ascii_whitespace())
                .unwrap_or(value.len()),
        };
        return Some(decode_entities(&value[..end]));
    }
    None
}

fn push_text(out: &mut String, raw: &str) {
    let text = decode_entities(raw);
    let mut last_space = out.ends_with([' ', '\n']) || out.is_empty();
    for c in text.chars() {
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
        } else {
            out.push(c);
            last_space = false;
        }
    }
}

fn newline(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Trims lines and keeps at most one blank line between blocks.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line == "-" || line == "#" {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        blank = 0;
    }
    out
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                "mdash" => Some('—'),
                "ndash" => Some('–'),
                "hellip" => Some('…'),
                "copy" => Some('©'),
                _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                    u32::from_str_radix(&entity[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_text_in_reading_order() {
        let html = r#"<html><head><title>Crabs &amp; You</title><style>p{}</style></head>
            <body><nav>Home | About</nav><h1>Crabs</h1><p>Crabs have a <b>chitin</b>
            shell.</p><script>alert("x")</script><ul><li>One</li><li>Two</li></ul>
            <p>See <a href="https://example.org/crabs">the guide</a>.</p><!-- hidden --></body></html>"#;
        let got = extract(html);
        assert_eq!(got.title.as_deref(), Some("Crabs & You"));
        assert_eq!(
            got.text,
            "# Crabs\nCrabs have a chitin shell.\n- One\n- Two\nSee [the guide](https://example.org/crabs)."
        );
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a &lt;b&gt; &#65;&#x42; &bogus; &"),
            "a <b> AB &bogus; &"
        );
    }

    #[test]
    fn unterminated_markup_does_not_panic() {
        for html in [
            "<",
            "<p",
            "<!-- x",
            "<script>never closed",
            "&#xFFFFFFFF;",
            "<a href='x",
        ] {
            let _ = extract(html);
        }
    }

    #[test]
    fn nested_skipped_elements() {
        let got = extract("<div><svg><g><svg></svg></g>inside</svg>after</div>");
        assert_eq!(got.text, "after");
    }
}
