//! The page `serve` ships, in a real browser: headless Chromium with a fake microphone that plays
//! a Persian recording, driven over the DevTools protocol as a person would use it (open the page,
//! press the button, read the captions).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use linguastream_core::audio::{decode_file, STT_RATE};
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

use super::live;
use super::serve::Served;
use super::util::{sample, write_wav_i16};

/// A headless Chromium and the one page it shows, killed when dropped.
struct Browser {
    child: Child,
    page: WebSocket<TcpStream>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with `microphone` (a WAV file, played in a loop) as its only microphone,
    /// allowed without asking.
    fn start(microphone: &Path) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio"])
            .args(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
            .arg(format!("--use-file-for-fake-audio-capture={}", microphone.display()))
            .arg("--autoplay-policy=no-user-gesture-required")
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("Chromium runs (`make setup` installs Debian's `chromium` package)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port: u16 = loop {
            let line = lines.next().expect("Chromium said where DevTools listen").unwrap();
            if let Some(rest) = line.strip_prefix("DevTools listening on ws://127.0.0.1:") {
                break rest.split('/').next().unwrap().parse().unwrap();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        let list = ureq::get(&format!("http://127.0.0.1:{port}/json/list")).call().expect("DevTools targets");
        let targets: Value = serde_json::from_str(&list.into_string().unwrap()).unwrap();
        let page_url = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_string();
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (page, _) = tungstenite::client(page_url, stream).expect("DevTools WebSocket");
        Browser { child, page, next_id: 0, _profile: profile }
    }

    /// One DevTools command; its result (events that arrive meanwhile are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.page.send(Message::text(json!({ "id": id, "method": method, "params": params }).to_string())).unwrap();
        loop {
            if let Message::Text(text) = self.page.read().expect("DevTools answers") {
                let reply: Value = serde_json::from_str(&text).unwrap();
                if reply["id"] == id {
                    assert!(reply["error"].is_null(), "{method}: {reply}");
                    return reply["result"].clone();
                }
            }
        }
    }

    /// Evaluates a JavaScript expression in the page; its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true }));
        assert!(result["exceptionDetails"].is_null(), "{expression}: {result}");
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy; its value, or None after `limit`.
    fn wait_for(&mut self, expression: &str, limit: Duration) -> Option<Value> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let value = self.eval(expression);
            if !value.is_null() && value != false && value != "" {
                return Some(value);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        None
    }

    fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sample followed by two seconds of silence, so the looping fake microphone leaves the pause
/// that ends each utterance.
fn sample_then_silence(dir: &Path, name: &str) -> PathBuf {
    let mut audio = decode_file(&sample(name), STT_RATE).unwrap();
    audio.samples.extend(std::iter::repeat_n(0.0, 2 * STT_RATE as usize));
    let path = dir.join("microphone.wav");
    write_wav_i16(&path, &audio, 1);
    path
}

/// Where the screenshot is kept for a person to look at after the run.
fn artefact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The page's status line.
const STATUS: &str = "document.getElementById('status') && document.getElementById('status').textContent";

/// A fresh server's page, loaded in a browser whose microphone plays `sample_name` (then silence),
/// with "Start speaking" pressed. The folder holds the microphone's file: keep it while the browser
/// runs.
fn listening_page(sample_name: &str) -> (Served, Browser, tempfile::TempDir) {
    let server = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut browser = Browser::start(&sample_then_silence(dir.path(), sample_name));
    browser.call("Page.enable", json!({}));
    browser.call("Page.navigate", json!({ "url": format!("http://{}/", server.address) }));
    let loaded =
        browser.wait_for(&format!("({STATUS} || '').startsWith('models:') && {STATUS}"), Duration::from_secs(30));
    assert!(loaded.is_some(), "the page did not load its status: {:?}", browser.eval(STATUS));
    browser.eval("document.getElementById('mic').click()");
    (server, browser, dir)
}

#[test]
fn the_page_captions_speech_from_the_microphone() {
    let (_server, mut browser, _microphone) = listening_page("fa-sentence-virgool.wav");
    let english = "[...document.querySelectorAll('#captions .line:not(.dropped):not(.warning)')]\
                   .map((l) => l.children[1].textContent).filter((t) => /[a-z]/i.test(t)).join(' | ')";
    let caption = browser.wait_for(english, Duration::from_secs(120));
    let shot = artefact("page-caption.png");
    browser.screenshot(&shot);
    let caption = caption.unwrap_or_else(|| {
        panic!("no English caption within 120 s; status {:?}; screenshot {}", browser.eval(STATUS), shot.display())
    });
    eprintln!("English caption on the page: {caption}; screenshot {}", shot.display());
    assert_eq!(browser.eval("document.getElementById('mic').textContent"), "Stop", "the button shows it is listening");
    let persian =
        browser.eval("[...document.querySelectorAll('#captions .line .fa')].map((d) => d.textContent).join(' ')");
    assert!(
        persian.as_str().unwrap().chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)),
        "Persian caption: {persian}"
    );
    let rows = browser.eval("document.getElementById('latency').rows.length");
    assert!(rows.as_u64().unwrap() >= 2, "a latency row per spoken utterance");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a screenshot of the page");
}

/// Whisper base hears the bundled "one" (`fa-one-ali.wav`) as «یق», with low confidence: the page
/// marks both lines and says what became of the English.
#[test]
fn the_page_marks_a_low_confidence_line() {
    let (_server, mut browser, _microphone) = listening_page("fa-one-ali.wav");
    let note = "(document.querySelector('#captions .line.unsure .note') || {}).textContent";
    let marked = browser.wait_for(note, Duration::from_secs(120));
    let shot = artefact("page-unsure.png");
    browser.screenshot(&shot);
    let marked = marked.unwrap_or_else(|| panic!("no line marked unsure in 120 s; screenshot {}", shot.display()));
    assert_eq!(marked, "low confidence: spoken, then the unsure tone", "screenshot {}", shot.display());
    let mark = "getComputedStyle(document.querySelector('#captions .line.unsure .fa'), '::before').content";
    assert_eq!(browser.eval(mark), "\"(?) \"", "the Persian line is marked too");
}

/// The desktop section with the other side of the call: the page starts it, and the call's
/// English and its Persian appear in their own lane beside the user's, Persian right to left.
#[test]
fn the_page_shows_the_other_side_of_the_call_beside_the_users_lane() {
    let _pulse = live::server();
    let _quiet = live::quiet_microphone();
    let server = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut browser = Browser::start(&sample_then_silence(dir.path(), "fa-digits-fateme.wav"));
    browser.call("Page.enable", json!({}));
    browser.call("Page.navigate", json!({ "url": format!("http://{}/", server.address) }));
    let offered = "[...document.querySelectorAll('#call-input option')].some((o) => o.value === 'default')";
    assert!(browser.wait_for(offered, Duration::from_secs(30)).is_some(), "the other side is not offered");
    browser.eval("document.getElementById('live-input').value = 'quiet_mic.monitor'");
    browser.eval("document.getElementById('call-input').value = 'default'");
    browser.eval("document.getElementById('live-toggle').click()");
    let running = "document.getElementById('live-toggle').textContent === 'Stop'";
    let started = browser.wait_for(running, Duration::from_secs(30));
    assert!(started.is_some(), "not started: {}", browser.eval("document.getElementById('live-status').textContent"));

    live::play_into_test_sink(&live::english_clip(dir.path(), "Good morning. Thank you very much for your help."));
    let heard = "[...document.querySelectorAll('#call-captions .heard')].map((d) => d.textContent).join(' ')";
    let caption = browser.wait_for(&format!("/morning/i.test({heard}) && {heard}"), Duration::from_secs(90));
    let shot = artefact("page-call-side.png");
    browser.eval("document.getElementById('live-toggle').scrollIntoView()");
    browser.screenshot(&shot);
    assert!(caption.is_some(), "no caption of the other side in 90 s; screenshot {}", shot.display());
    let lane = browser.eval("document.getElementById('call-lane').textContent");
    assert!(lane.as_str().unwrap().contains("en → fa"), "{lane}");
    let translated = browser.eval(
        "[...document.querySelectorAll('#call-captions .translated')].map((d) => [d.dir, d.lang, d.textContent])",
    );
    let translated = translated.as_array().unwrap();
    assert!(!translated.is_empty(), "no Persian line; screenshot {}", shot.display());
    for line in translated {
        assert_eq!((&line[0], &line[1]), (&json!("rtl"), &json!("fa")), "{line}");
        assert!(line[2].as_str().unwrap().chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)), "{line}");
    }
    assert_eq!(browser.eval("document.querySelector('#call-captions .heard').dir"), "ltr");
    assert_eq!(browser.eval("document.querySelectorAll('#live-captions .caption').length"), 0, "the user said nothing");
    // Side by side: the other side's lane to the right of the user's, at the same height.
    let box_of = |id: &str| format!("document.getElementById('{id}').parentElement.getBoundingClientRect()");
    let (user, call) = (box_of("live-captions"), box_of("call-captions"));
    let side_by_side = browser.eval(&format!("{call}.left >= {user}.right && {call}.top === {user}.top"));
    assert_eq!(side_by_side, true, "screenshot {}", shot.display());

    browser.eval("document.getElementById('live-toggle').click()");
    let stopped =
        browser.wait_for("document.getElementById('live-toggle').textContent === 'Start'", Duration::from_secs(30));
    assert!(stopped.is_some(), "not stopped");
    assert!(live::no_linguastream_modules(), "the virtual microphone outlived the session");
}
