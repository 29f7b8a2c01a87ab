//! The best set of models for this machine (`models fetch --best`): the default set, the most
//! accurate Whisper that keeps up live here, and the text translator that beats Whisper's own
//! translation; and whether the hosts that serve them can be reached at all, asked of every
//! host at once with a short deadline, so an offline machine hears so in seconds.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::choice::{self, MachineProfile, TextCandidate, WhisperChoice};
use super::http::host_of;
use super::hub::Hub;
use super::manifest::{ModelEntry, Source};
use super::remote_settings::RemoteSettings;
use super::store::ModelStore;

/// How long the reachability probe waits for every host together.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(3);

/// What the best set is for this machine, and why.
#[derive(Debug, Clone)]
pub struct BestSet {
    pub whisper: WhisperChoice,
    pub whisper_why: String,
    /// The text translation model, when one beats Whisper's own translation.
    pub text: Option<String>,
    pub text_why: String,
    /// Every model of the set: the default set, the Whisper, the text model.
    pub ids: Vec<String>,
}

/// The best set for `language`→en on the machine `profile` describes, among every model the
/// model list knows, or only among those installed.
pub fn plan(store: &ModelStore, profile: &MachineProfile, language: &str, installed_only: bool) -> Option<BestSet> {
    let manifest = store.manifest();
    let usable = |id: &str| manifest.get(id).is_some() && (!installed_only || is_installed(store, id));
    let listed: Vec<&str> =
        choice::WHISPER_SIZES.into_iter().filter(|size| usable(&format!("whisper-{size}"))).collect();
    let whisper = choice::choose_whisper(profile, &listed, 0.0)?;
    let whisper_why = if whisper.keeps_up {
        format!("the most accurate Whisper that keeps up here: {}", whisper.why(profile))
    } else {
        format!("no Whisper keeps up live here, this is the fastest: {}", whisper.why(profile))
    };
    let pair = format!("{language}-en");
    let text_models: Vec<&ModelEntry> = manifest
        .models
        .iter()
        .filter(|m| matches!(m.role.as_str(), "mt" | "nllb" | "llm"))
        .filter(|m| m.role != "mt" || m.pair.as_deref() == Some(pair.as_str()))
        .filter(|m| usable(&m.id))
        // The figures in the model list are Persian→English.
        .filter(|_| language == "fa")
        .collect();
    // Only a model with a figure is fetched for its quality; one without is the user's to pick.
    let candidates: Vec<TextCandidate> =
        text_models.iter().filter(|m| m.bleu.is_some()).map(|m| TextCandidate::of(m)).collect();
    let (pick, text_why) = choice::choose_text(language, &candidates);
    let text = pick.map(|i| candidates[i].id.clone());
    let mut ids: Vec<String> = manifest.defaults().map(|m| m.id.clone()).collect();
    ids.push(format!("whisper-{}", whisper.size));
    ids.extend(text.clone());
    ids.dedup();
    Some(BestSet { whisper, whisper_why, text, text_why, ids })
}

/// Installed, by its record (not re-hashed: that happens when it loads).
pub fn is_installed(store: &ModelStore, id: &str) -> bool {
    matches!(store.installed(id), Ok(Some(_)))
}

/// Where to ask whether `entry` can be downloaded, and the host that serves it: the hub's
/// answer for its first file, or the Remote Settings server root. None for a model pip fetches
/// (pip asks its own index) or one made here.
pub fn probe_url(entry: &ModelEntry) -> Option<(String, String)> {
    let url = match entry.source {
        Source::Huggingface => {
            let file = entry.files.first()?;
            let revision = entry.revision.as_deref().unwrap_or("main");
            Hub::from_env().resolve_url(entry.repo.as_deref()?, revision, &file.name)
        }
        Source::Firefox => format!("{}/", RemoteSettings::from_env().server()),
        Source::Pypi | Source::Local => return None,
    };
    Some((host_of(&url).to_string(), url))
}

/// Of `urls`, those whose server does not answer as a model host would (a success or a
/// redirect) by `deadline`, all asked at once. Reaching a machine is not enough: where only
/// package registries are allowed, a filtering proxy may answer every address with 404.
pub fn unanswered(urls: &[String], deadline: Duration) -> Vec<String> {
    let (sender, answers) = mpsc::channel();
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(deadline)
        .timeout(deadline)
        .redirects(0)
        .user_agent(concat!("linguastream/", env!("CARGO_PKG_VERSION")))
        .build();
    for url in urls.iter().collect::<BTreeSet<_>>() {
        let (sender, agent, url) = (sender.clone(), agent.clone(), url.clone());
        // A thread still waiting on a name lookup past the deadline ends with the process.
        std::thread::spawn(move || {
            let answered = matches!(agent.head(&url).call(), Ok(response) if response.status() < 400);
            let _ = sender.send((url, answered));
        });
    }
    drop(sender);
    let started = Instant::now();
    let mut answered = BTreeSet::new();
    while let Some(left) = deadline.checked_sub(started.elapsed()) {
        match answers.recv_timeout(left) {
            Ok((url, true)) => {
                answered.insert(url);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    urls.iter().filter(|url| !answered.contains(*url)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on a local port that answers every request with `status`.
    fn answering(status: u16) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/v1/", listener.local_addr().unwrap().port());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                use std::io::{Read, Write};
                let mut stream = stream;
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        url
    }

    #[test]
    fn only_a_server_that_answers_like_a_model_host_counts() {
        let (ok, redirect, filtered) = (answering(200), answering(302), answering(404));
        let closed = {
            let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://127.0.0.1:{}/", spare.local_addr().unwrap().port())
        };
        let started = Instant::now();
        let urls = [ok, redirect, filtered.clone(), closed.clone()];
        assert_eq!(unanswered(&urls, Duration::from_secs(2)), vec![filtered, closed]);
        assert!(started.elapsed() < Duration::from_secs(2), "the answers did not end the wait");
    }

    #[test]
    fn firefox_and_hub_models_are_asked_where_they_are_downloaded_and_wheels_are_left_to_pip() {
        let store = ModelStore::open(tempfile::tempdir().unwrap().path().to_path_buf());
        let (host, url) = probe_url(store.manifest().get("whisper-small").unwrap()).unwrap();
        assert!(url.ends_with("/Systran/faster-whisper-small/resolve/main/model.bin"), "{url}");
        assert_eq!(host, host_of(&url));
        assert!(probe_url(store.manifest().get("firefox-faen").unwrap()).unwrap().1.ends_with("/v1/"));
        assert_eq!(probe_url(store.manifest().get("silero-vad").unwrap()), None);
    }

    #[test]
    fn the_plan_holds_the_defaults_the_whisper_and_the_text_model_that_beats_direct() {
        let home = tempfile::tempdir().unwrap();
        let store = ModelStore::open(home.path().to_path_buf());
        let fast = MachineProfile {
            cores: 8,
            available_mb: 32_000.0,
            measured: vec![choice::Measured { size: "base".into(), stt_ms: 100.0, peak_rss_mb: 450.0 }],
        };
        let best = plan(&store, &fast, "fa", false).unwrap();
        assert_eq!(best.whisper.size, "small");
        assert_eq!(best.text.as_deref(), Some("firefox-faen"));
        for id in ["whisper-small", "firefox-faen", "whisper-base", "silero-vad", "ctranslate2"] {
            assert!(best.ids.iter().any(|i| i == id), "{id} missing from {:?}", best.ids);
        }
        assert!(!best.ids.iter().any(|i| i == "gemma3-270m"), "{:?}", best.ids);
        // Portuguese has no figure for Whisper's own translation: no text model is fetched for it.
        assert_eq!(plan(&store, &fast, "pt", false).unwrap().text, None);
        // Among installed models only: nothing is installed in this home.
        assert!(plan(&store, &fast, "fa", true).is_none());
    }
}
