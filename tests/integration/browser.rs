//! report.html in a real browser: headless Chromium at a phone's width (390 px) must show a
//! failing run's requirement (the RFC a case cites) and the preflight's finding inside the
//! viewport, not hidden or pushed off-screen. (`tests/browser/check-report.sh`, run by CI,
//! checks more of the page; this one runs with `cargo test`.) Skips, saying why, when no
//! Chromium is installed; `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::cli::{grantcheck_in, temp_dir};

/// The script appended to a copy of the report: for each cell it opens the `<details>` around
/// it, scrolls it into view and measures it against the viewport; the answer goes into the
/// page as JSON, which `--dump-dom` prints.
const PROBE: &str = r#"<script>
addEventListener('load', function () {
  function measure(name, cell) {
    if (!cell) return {name: name, found: false};
    for (var d = cell.closest('details'); d; d = d.parentElement && d.parentElement.closest('details')) d.open = true;
    cell.scrollIntoView({block: 'center'});
    var r = cell.getBoundingClientRect(), style = getComputedStyle(cell);
    return {name: name, found: true, text: cell.textContent,
      visible: style.display != 'none' && style.visibility != 'hidden' && r.width > 0 && r.height > 0,
      inside: r.left >= 0 && r.right <= innerWidth + 0.5 && r.top >= 0 && r.bottom <= innerHeight + 0.5,
      left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  }
  var failing = document.querySelector('tr[data-outcome=fail] td.req');
  var finding = document.querySelector('#preflight tr:nth-child(2) td:nth-child(3)');
  var out = {width: innerWidth, scroll_width: document.documentElement.scrollWidth,
    cells: [measure('requirement', failing), measure('preflight finding', finding)]};
  parent.postMessage(JSON.stringify(out), '*');
});
</script>"#;

/// The page Chromium opens: the report in a frame exactly `{W}` × `{H}` px (headless
/// Chromium's window is never narrower than 500 px; a frame is its own viewport, so the
/// report's media queries see the phone's width), and what the frame reports back.
const FRAME: &str = r#"<!doctype html><html><body style="margin:0">
<iframe src="probed.html" style="width:{W}px;height:{H}px;border:0"></iframe>
<script>addEventListener('message', function (e) {
  var pre = document.createElement('pre'); pre.id = 'probe-result'; pre.textContent = e.data;
  document.body.appendChild(pre);
});</script></body></html>"#;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The frame page as headless Chromium laid it out, after its scripts ran.
fn rendered(browser: &Path, page: &Path, profile: &Path) -> String {
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1400,1000")
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_failing_reports_requirement_and_preflight_finding_are_on_screen_at_390_px() {
    let Some(browser) = chromium() else {
        println!("skipped: no chromium on PATH (apt-get install chromium; .ci/run installs it)");
        return;
    };
    let dir = temp_dir("browser");
    let output = grantcheck_in(&dir)
        .args([
            "conform",
            "--color",
            "never",
            "--snapshots",
            "off",
            "--only",
            "RESP-001,RESP-008",
            "--embedded-fault",
            "omit-cache-control",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(dir.join("reports/report.html")).unwrap();
    let probed = report.replace("</body>", &format!("{PROBE}</body>"));
    std::fs::write(dir.join("probed.html"), probed).unwrap();

    for (width, height) in [(390, 900), (1280, 900)] {
        let page = dir.join(format!("frame-{width}.html"));
        let frame = FRAME
            .replace("{W}", &width.to_string())
            .replace("{H}", &height.to_string());
        std::fs::write(&page, frame).unwrap();
        let dom = rendered(&browser, &page, &dir.join("chromium-profile"));
        let json = dom
            .split_once("<pre id=\"probe-result\">")
            .and_then(|(_, rest)| rest.split_once("</pre>"))
            .map(|(json, _)| {
                json.replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            })
            .unwrap_or_else(|| panic!("at {width} px the probe wrote no result: {dom}"));
        let result: serde_json::Value = serde_json::from_str(&json).unwrap();
        println!("{width} px: {result}");
        assert_eq!(
            result["width"], width,
            "the frame is the viewport: {result}"
        );
        assert!(
            result["scroll_width"].as_f64() <= result["width"].as_f64(),
            "at {width} px the page is wider than the screen: {result}"
        );
        for cell in result["cells"].as_array().unwrap() {
            let name = &cell["name"];
            assert_eq!(
                cell["found"], true,
                "at {width} px no {name} cell: {result}"
            );
            assert_eq!(
                cell["visible"], true,
                "at {width} px the {name} is hidden: {cell}"
            );
            assert_eq!(
                cell["inside"], true,
                "at {width} px the {name} is off-screen: {cell}"
            );
        }
        let [requirement, finding] = [&result["cells"][0]["text"], &result["cells"][1]["text"]]
            .map(|t| t.as_str().unwrap_or_default().to_owned());
        assert!(requirement.contains("MUST RFC 6749 §5.1"), "{requirement}");
        assert!(
            finding.contains("myClient got a token from http://127.0.0.1:"),
            "{finding}"
        );
    }
}
