//! Turns per-frame speech probabilities into utterances (hysteresis, pauses, length cap, padding).

use super::{Utterance, FRAME};

/// How utterances are cut. Durations are in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct SegmenterOptions {
    /// Probability at or above which a frame is speech.
    pub threshold: f32,
    /// A pause this long ends an utterance.
    pub min_pause_ms: u32,
    /// Speech running longer than this ends at a shorter pause, `long_speech_pause_ms` (a
    /// breath between clauses), and past `dip_after_ms` at any dip in it of `dip_ms`, so a long
    /// sentence is translated and spoken clause by clause while the speaker goes on instead of
    /// after its end ([`Self::whole_sentences`] turns this off). Long-form set, `bench
    /// --realtime`: the breath (200 ms after 4 s) took output lag p95 11.0 → 8.3 s for CER
    /// 0.396 → 0.403; the breath from 3 s and a 96 ms dip after 5 s took first English p95
    /// 1.43 → 1.36 s and output lag p95 8.61 → 8.33 s for CER 0.397 → 0.400, on a CPU without
    /// AMX (a 64 ms dip after 3.5 s: 1.40 s for CER 0.414).
    pub long_speech_ms: u32,
    pub long_speech_pause_ms: u32,
    pub dip_after_ms: u32,
    pub dip_ms: u32,
    /// Speech shorter than this is ignored (clicks, coughs).
    pub min_speech_ms: u32,
    /// Longer speech is split at its quietest frame, so recognition never waits too long.
    pub max_utterance_ms: u32,
    /// Audio kept before the detected speech.
    pub pad_ms: u32,
    /// Audio kept after it. Speculative recognition starts once it has been heard, so it is
    /// shorter than `pad_ms`: 100 instead of 200 ms starts it 100 ms sooner, for a CER cost of
    /// at most 0.01 (digits 0.487 → 0.496, long-form 0.388 → 0.395, colloquial 0.317 unchanged;
    /// the padding before the speech matters far more: 100 ms there took the digits to 0.65).
    pub trailing_pad_ms: u32,
    /// Pauses at least this long inside an utterance (shorter than `min_pause_ms`) mark its
    /// [`Utterance::pieces`]: where it is cut again when Whisper cannot read it whole. 0: none.
    pub piece_pause_ms: u32,
}

impl Default for SegmenterOptions {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_pause_ms: 400,
            long_speech_ms: 3_000,
            long_speech_pause_ms: 200,
            dip_after_ms: 5_000,
            dip_ms: 96,
            min_speech_ms: 250,
            max_utterance_ms: 15_000,
            pad_ms: 200,
            trailing_pad_ms: 100,
            piece_pause_ms: 0,
        }
    }
}

impl SegmenterOptions {
    /// The same options with long speech ended only by a full pause, as files are cut: Whisper
    /// recognises whole sentences better (long-form CER 0.388 against 0.399 cut at breaths).
    pub fn whole_sentences(self) -> Self {
        Self { long_speech_pause_ms: self.min_pause_ms, dip_ms: self.min_pause_ms, ..self }
    }
}

fn frames(ms: u32) -> usize {
    (ms as usize * 16).div_ceil(FRAME)
}

/// Streaming segmenter: push one probability per frame, get utterances as soon as they end.
pub struct Segmenter {
    options: SegmenterOptions,
    /// Probabilities of the current utterance, from its first speech frame.
    current: Vec<f32>,
    start_frame: usize,
    frame: usize,
    silent_run: usize,
    /// End (in frames) of the previous utterance's padding, so paddings never overlap.
    previous_end: usize,
    /// Pauses of at least `piece_pause_ms` inside the current utterance: first silent frame and
    /// the frame speech resumed.
    pauses: Vec<(usize, usize)>,
}

impl Segmenter {
    pub fn new(options: SegmenterOptions) -> Self {
        Self {
            options,
            current: Vec::new(),
            start_frame: 0,
            frame: 0,
            silent_run: 0,
            previous_end: 0,
            pauses: Vec::new(),
        }
    }

    /// Index of the first sample a future utterance can still include: audio before it can be
    /// forgotten.
    pub fn earliest_needed(&self) -> usize {
        let pad = self.options.pad_ms as usize * 16;
        let from = if self.current.is_empty() { self.frame } else { self.start_frame };
        (from * FRAME).saturating_sub(pad).max(self.previous_end.min(from * FRAME))
    }

    /// Feeds the probability of the next frame; returns the utterances that ended with it.
    pub fn push(&mut self, probability: f32) -> Vec<Utterance> {
        let index = self.frame;
        self.frame += 1;
        let negative_threshold = (self.options.threshold - 0.15).max(0.01);
        let mut done = Vec::new();
        if self.current.is_empty() {
            if probability >= self.options.threshold {
                self.start_frame = index;
                self.current.push(probability);
                self.silent_run = 0;
            }
            return done;
        }
        self.current.push(probability);
        if probability < negative_threshold {
            self.silent_run += 1;
        } else if probability >= self.options.threshold {
            let piece_pause = self.options.piece_pause_ms;
            if piece_pause > 0 && self.silent_run >= frames(piece_pause) {
                self.pauses.push((index - self.silent_run, index));
            }
            self.silent_run = 0;
        }
        if self.silent_run >= self.pause_frames() {
            let speech_frames = self.speech_frames();
            done.extend(self.close(speech_frames));
        } else if self.current.len() >= frames(self.options.max_utterance_ms) {
            done.extend(self.split_at_quietest());
        }
        done
    }

    /// Ends the stream: the utterance in progress, if any, is returned.
    pub fn finish(&mut self) -> Vec<Utterance> {
        let speech_frames = self.speech_frames();
        self.close(speech_frames).into_iter().collect()
    }

    /// The utterance that ends here if the pause now under way lasts: offered once its trailing
    /// padding has been heard, so its audio is exactly what recognition would get after the
    /// pause. Speculative recognition starts on it while the pause is still being confirmed.
    pub fn tentative(&self) -> Option<Utterance> {
        let heard_padding = self.silent_run >= frames(self.options.trailing_pad_ms).max(1);
        if self.current.is_empty() || !heard_padding || self.silent_run >= self.pause_frames() {
            return None;
        }
        let speech_frames = self.speech_frames();
        if speech_frames < frames(self.options.min_speech_ms) {
            return None;
        }
        let (start, end) = (self.start_frame, self.start_frame + speech_frames);
        Some(self.shape(start, end, mean(&self.current[..speech_frames])))
    }

    /// The utterance under way, as far as it has been heard (its end is the latest frame plus
    /// the padding), once it holds enough speech to count: partial captions decode it while
    /// the speaker goes on.
    pub fn in_progress(&self) -> Option<Utterance> {
        let speech_frames = self.speech_frames();
        if speech_frames < frames(self.options.min_speech_ms) {
            return None;
        }
        Some(self.shape(self.start_frame, self.start_frame + self.current.len(), mean(&self.current)))
    }

    /// Frames of the current utterance up to its trailing silence.
    fn speech_frames(&self) -> usize {
        self.current.len() - self.silent_run.min(self.current.len())
    }

    /// The pause that ends the current utterance: shorter the longer it runs.
    fn pause_frames(&self) -> usize {
        let options = &self.options;
        let speech = self.speech_frames();
        let pause_ms = if speech >= frames(options.dip_after_ms) {
            options.dip_ms
        } else if speech >= frames(options.long_speech_ms) {
            options.long_speech_pause_ms
        } else {
            options.min_pause_ms
        };
        frames(pause_ms.min(options.min_pause_ms))
    }

    fn close(&mut self, speech_frames: usize) -> Option<Utterance> {
        let start = self.start_frame;
        self.silent_run = 0;
        let pauses = std::mem::take(&mut self.pauses);
        if speech_frames < frames(self.options.min_speech_ms) {
            self.current.clear();
            return None;
        }
        let mut utterance = self.utterance(start, start + speech_frames, mean(&self.current[..speech_frames]));
        utterance.pieces = self.pieces(&utterance, &pauses);
        self.current.clear();
        Some(utterance)
    }

    /// Splits an over-long utterance at the frame of lowest (smoothed) speech probability in its
    /// second half, emits the first part and keeps the rest going.
    fn split_at_quietest(&mut self) -> Option<Utterance> {
        let half = self.current.len() / 2;
        let smoothed = |i: usize| {
            let lo = i.saturating_sub(2);
            let hi = (i + 3).min(self.current.len());
            self.current[lo..hi].iter().sum::<f32>() / (hi - lo) as f32
        };
        let cut = (half..self.current.len())
            .min_by(|&a, &b| smoothed(a).total_cmp(&smoothed(b)))
            .unwrap_or(self.current.len());
        let rest = self.current.split_off(cut);
        let start = self.start_frame;
        let (pauses, later): (Vec<_>, Vec<_>) = self.pauses.iter().partition(|&&(_, to)| to <= start + cut);
        self.pauses = later;
        let mut utterance = self.utterance(start, start + cut, mean(&self.current));
        utterance.pieces = self.pieces(&utterance, &pauses);
        self.start_frame = start + cut;
        self.current = rest;
        self.silent_run = self.current.iter().rev().take_while(|&&p| p < self.options.threshold - 0.15).count();
        Some(utterance)
    }

    fn utterance(&mut self, speech_start_frame: usize, speech_end_frame: usize, speech_probability: f32) -> Utterance {
        let utterance = self.shape(speech_start_frame, speech_end_frame, speech_probability);
        self.previous_end = utterance.end;
        utterance
    }

    /// The padded utterance around the speech between two frames.
    fn shape(&self, speech_start_frame: usize, speech_end_frame: usize, speech_probability: f32) -> Utterance {
        let (pad, trailing_pad) = (self.options.pad_ms as usize * 16, self.options.trailing_pad_ms as usize * 16);
        let speech_start = speech_start_frame * FRAME;
        let speech_end = speech_end_frame * FRAME;
        let start = speech_start.saturating_sub(pad).max(self.previous_end);
        Utterance {
            start,
            end: speech_end + trailing_pad,
            speech_start,
            speech_end,
            speech_probability,
            pieces: vec![],
        }
    }

    /// The stretches of `utterance`'s speech between `pauses`, each padded as an utterance is but
    /// within the pauses around it, as they would have been cut at `piece_pause_ms`; none when
    /// fewer than two hold enough speech.
    fn pieces(&self, utterance: &Utterance, pauses: &[(usize, usize)]) -> Vec<Utterance> {
        let first = utterance.speech_start / FRAME;
        let last = utterance.speech_end / FRAME;
        let mut bounds = vec![first];
        for &(from, to) in pauses.iter().filter(|&&(from, to)| from > first && to < last) {
            bounds.extend([from, to]);
        }
        bounds.push(last);
        let (pad, trailing_pad) = (self.options.pad_ms as usize * 16, self.options.trailing_pad_ms as usize * 16);
        let pieces: Vec<Utterance> = bounds
            .chunks(2)
            .enumerate()
            .filter(|(_, speech)| speech[1] - speech[0] >= frames(self.options.min_speech_ms))
            .map(|(i, speech)| {
                let (speech_start, speech_end) = (speech[0] * FRAME, speech[1] * FRAME);
                let pause_before = if i == 0 { utterance.start } else { bounds[2 * i - 1] * FRAME };
                let pause_after = bounds.get(2 * i + 2).map_or(utterance.end, |&next| next * FRAME);
                let probabilities = &self.current[speech[0] - self.start_frame..speech[1] - self.start_frame];
                Utterance {
                    start: speech_start.saturating_sub(pad).max(pause_before),
                    end: (speech_end + trailing_pad).min(pause_after).min(utterance.end),
                    speech_start,
                    speech_end,
                    speech_probability: mean(probabilities),
                    pieces: vec![],
                }
            })
            .collect();
        if pieces.len() < 2 {
            return vec![];
        }
        pieces
    }
}

fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len().max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(probabilities: &[f32], options: SegmenterOptions) -> Vec<Utterance> {
        let mut s = Segmenter::new(options);
        let mut out: Vec<Utterance> = probabilities.iter().flat_map(|&p| s.push(p)).collect();
        out.extend(s.finish());
        out
    }

    fn options() -> SegmenterOptions {
        SegmenterOptions { pad_ms: 0, trailing_pad_ms: 0, ..Default::default() }
    }

    #[test]
    fn a_pause_separates_utterances() {
        let mut p = vec![0.0; 10];
        p.extend(vec![0.9; 20]);
        p.extend(vec![0.0; 20]);
        p.extend(vec![0.9; 20]);
        let u = run(&p, options());
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].speech_start, 10 * FRAME);
        assert_eq!(u[0].speech_end, 30 * FRAME);
        assert_eq!(u[1].speech_start, 50 * FRAME);
    }

    #[test]
    fn short_blips_are_ignored() {
        let mut p = vec![0.0; 10];
        p.extend(vec![0.9; 3]);
        p.extend(vec![0.0; 30]);
        assert!(run(&p, options()).is_empty());
    }

    #[test]
    fn long_speech_is_split_at_the_quietest_frame() {
        let opts = SegmenterOptions { max_utterance_ms: 3_200, ..options() }; // 100 frames
        let mut p = vec![0.9; 70];
        p.extend(vec![0.4; 3]); // a dip, but shorter than a pause
        p.extend(vec![0.9; 60]);
        let u = run(&p, opts);
        assert_eq!(u.len(), 2, "{u:?}");
        let cut = u[0].speech_end / FRAME;
        assert!((70..=73).contains(&cut), "cut at frame {cut}");
        assert_eq!(u[1].speech_start, u[0].speech_end);
        assert_eq!(u[1].speech_end, 133 * FRAME);
    }

    #[test]
    fn a_passage_keeps_the_pieces_shorter_cuts_would_have_made() {
        // Files: 2 s ends a passage, 400 ms (13 frames) marks a piece; 200 ms padding each side.
        let opts = SegmenterOptions {
            min_pause_ms: 2000,
            piece_pause_ms: 400,
            pad_ms: 200,
            trailing_pad_ms: 200,
            ..options()
        }
        .whole_sentences();
        let p =
            [vec![0.0; 20], vec![0.9; 20], vec![0.0; 15], vec![0.9; 20], vec![0.0; 5], vec![0.9; 20], vec![0.0; 80]]
                .concat();
        let u = run(&p, opts);
        assert_eq!(u.len(), 1, "one passage: {u:?}");
        let pieces = &u[0].pieces;
        let speech: Vec<(usize, usize)> =
            pieces.iter().map(|p| (p.speech_start / FRAME, p.speech_end / FRAME)).collect();
        assert_eq!(speech, [(20, 40), (55, 100)], "cut at the 15-frame pause, not the 5-frame one");
        assert_eq!(pieces[0].start, u[0].start);
        assert_eq!(pieces[0].end, 40 * FRAME + 200 * 16, "padded into the pause");
        assert_eq!(pieces[1].start, 55 * FRAME - 200 * 16);
        assert_eq!(pieces[1].end, u[0].end);

        let without = run(&p, SegmenterOptions { piece_pause_ms: 0, ..opts });
        assert!(without[0].pieces.is_empty());
    }

    /// Speech, then `gap`, then 30 more frames of speech.
    fn speech_with_gap_after(speech_frames: usize, gap: &[f32]) -> Vec<f32> {
        [vec![0.9; speech_frames], gap.to_vec(), vec![0.9; 30]].concat()
    }

    #[test]
    fn long_speech_ends_at_a_breath() {
        // A 256 ms pause: shorter than the 400 ms that ends an utterance, enough after 3 s.
        let breath_after = |speech_frames| speech_with_gap_after(speech_frames, &[0.0; 8]);
        let u = run(&breath_after(160), options());
        assert_eq!(u.len(), 2, "{u:?}");
        assert_eq!(u[0].speech_end, 160 * FRAME);
        assert_eq!(run(&breath_after(60), options()).len(), 1, "a short utterance goes on past a breath");
    }

    #[test]
    fn longer_speech_ends_at_a_dip() {
        // A 128 ms dip: too short for a breath, enough once the utterance has run 5 s.
        let dip_after = |speech_frames| speech_with_gap_after(speech_frames, &[0.2; 4]);
        let u = run(&dip_after(160), options());
        assert_eq!(u.len(), 2, "{u:?}");
        assert_eq!(u[0].speech_end, 160 * FRAME);
        assert_eq!(run(&dip_after(140), options()).len(), 1, "a 4.5 s utterance goes on past a dip");
        assert_eq!(run(&dip_after(160), options().whole_sentences()).len(), 1, "sentences kept whole were cut");
        let breath = speech_with_gap_after(160, &[0.0; 8]);
        assert_eq!(run(&breath, options().whole_sentences()).len(), 1, "sentences kept whole were cut at a breath");
    }

    #[test]
    fn the_tentative_utterance_is_the_one_a_confirmed_pause_gives() {
        let opts = SegmenterOptions { pad_ms: 200, trailing_pad_ms: 100, min_pause_ms: 400, ..Default::default() };
        let mut s = Segmenter::new(opts);
        let mut p = vec![0.0; 5];
        p.extend(vec![0.9; 20]);
        let mut offered = Vec::new();
        let mut closed = Vec::new();
        for &probability in p.iter().chain(&[0.0; 20]) {
            closed.extend(s.push(probability));
            offered.extend(s.tentative());
        }
        assert!(!offered.is_empty(), "nothing offered during the pause");
        assert_eq!(closed.len(), 1);
        assert!(offered.iter().all(|u| *u == closed[0]), "{offered:?} vs {closed:?}");
        // Not before the padding is heard, nor once the pause is confirmed.
        assert_eq!(offered.len(), frames(400) - frames(100));
    }

    #[test]
    fn padding_never_overlaps_the_previous_utterance() {
        let opts = SegmenterOptions { pad_ms: 500, trailing_pad_ms: 500, ..Default::default() };
        let mut p = vec![0.9; 20];
        p.extend(vec![0.0; 14]);
        p.extend(vec![0.9; 20]);
        let u = run(&p, opts);
        assert_eq!(u.len(), 2);
        assert!(u[1].start >= u[0].end);
    }
}
