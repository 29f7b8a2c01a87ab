//! Band-limited resampling (rubato's FFT resampler), of whole buffers or of a stream.

use rubato::{FftFixedIn, Resampler};

use super::Audio;

const CHUNK: usize = 1024;

/// Returns `audio` at `rate`, with the same duration (to the nearest sample).
pub fn resample(audio: &Audio, rate: u32) -> Audio {
    let mut resampler = StreamResampler::new(audio.rate, rate);
    let mut samples =
        Vec::with_capacity((audio.samples.len() as u64 * u64::from(rate) / u64::from(audio.rate)) as usize);
    resampler.push(&audio.samples, &mut samples);
    resampler.finish(&mut samples);
    Audio { samples, rate }
}

/// Resamples audio that arrives in pieces of any size; the output, piece by piece, is the same
/// as resampling the whole at once, with the filter's delay removed.
pub struct StreamResampler {
    /// None when the rates are equal.
    inner: Option<FftFixedIn<f32>>,
    from: u32,
    to: u32,
    pending: Vec<f32>,
    /// Leading output samples still to drop (the filter's delay).
    delay_left: usize,
    consumed: u64,
    produced: u64,
}

impl StreamResampler {
    /// Both rates must be non-zero (callers validate them: flags at parse time, files when read).
    pub fn new(from: u32, to: u32) -> Self {
        let inner = (from != to).then(|| {
            FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK, 2, 1).expect("sample rates are non-zero")
        });
        let delay_left = inner.as_ref().map_or(0, |r| r.output_delay());
        Self { inner, from, to, pending: Vec::new(), delay_left, consumed: 0, produced: 0 }
    }

    /// Output samples the input so far stands for.
    fn expected(&self) -> u64 {
        self.consumed * u64::from(self.to) / u64::from(self.from)
    }

    fn emit(&mut self, mut samples: &[f32], out: &mut Vec<f32>) {
        let skip = self.delay_left.min(samples.len());
        self.delay_left -= skip;
        samples = &samples[skip..];
        self.produced += samples.len() as u64;
        out.extend_from_slice(samples);
    }

    /// Feeds `input`; appends whatever output is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.consumed += input.len() as u64;
        let Some(inner) = self.inner.as_mut() else {
            self.produced += input.len() as u64;
            out.extend_from_slice(input);
            return;
        };
        self.pending.extend_from_slice(input);
        let mut offset = 0;
        let mut ready = Vec::new();
        while self.pending.len() - offset >= inner.input_frames_next() {
            let need = inner.input_frames_next();
            let chunk = &self.pending[offset..offset + need];
            ready.extend_from_slice(&inner.process(&[chunk], None).expect("chunk has the requested length")[0]);
            offset += need;
        }
        self.pending.drain(..offset);
        self.emit(&ready, out);
    }

    /// Flushes the filter: appends the last samples so the total output matches the input's
    /// duration exactly.
    pub fn finish(mut self, out: &mut Vec<f32>) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        let expected = self.expected();
        let start = out.len();
        if !self.pending.is_empty() {
            let tail = inner.process_partial(Some(&[&self.pending]), None).expect("partial chunk");
            self.emit(&tail[0], out);
        }
        while self.produced < expected {
            let tail = inner.process_partial::<&[f32]>(None, None).expect("flush");
            self.emit(&tail[0], out);
        }
        let excess = (self.produced - expected) as usize;
        out.truncate(out.len() - excess.min(out.len() - start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, seconds: f32, hz: f32) -> Audio {
        let n = (rate as f32 * seconds) as usize;
        let samples = (0..n).map(|i| (i as f32 / rate as f32 * hz * std::f32::consts::TAU).sin() * 0.5).collect();
        Audio { samples, rate }
    }

    #[test]
    fn keeps_duration_and_level() {
        let input = tone(44_100, 1.0, 440.0);
        let out = resample(&input, 16_000);
        assert_eq!(out.samples.len(), 16_000);
        let rms = |a: &Audio| (a.samples.iter().map(|s| s * s).sum::<f32>() / a.samples.len() as f32).sqrt();
        assert!((rms(&out) - rms(&input)).abs() < 0.01, "{} vs {}", rms(&out), rms(&input));
    }

    #[test]
    fn a_stream_in_odd_pieces_matches_the_whole() {
        let input = tone(22_050, 1.3, 300.0);
        let whole = resample(&input, 16_000);
        let mut resampler = StreamResampler::new(22_050, 16_000);
        let mut pieces = Vec::new();
        for piece in input.samples.chunks(777) {
            resampler.push(piece, &mut pieces);
        }
        resampler.finish(&mut pieces);
        assert_eq!(pieces.len(), whole.samples.len());
        assert!(pieces.iter().zip(&whole.samples).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn keeps_timing_of_a_click() {
        let mut input = Audio { samples: vec![0.0; 8_000], rate: 8_000 };
        input.samples[4_000] = 1.0;
        let out = resample(&input, 16_000);
        let peak = out.samples.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert!((peak as i64 - 8_000).abs() <= 2, "click moved to {peak}");
    }
}
