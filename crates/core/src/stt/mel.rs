//! Whisper's log-mel features (80 bands, 128 for large-v3; 25 ms window, 10 ms hop), computed for the utterance
//! itself plus a short margin instead of a 30 s padded window: CTranslate2 accepts short inputs
//! and padding costs 2.7× the time with no accuracy gain on short utterances.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// Bands of every Whisper before large-v3.
pub const N_MELS: usize = 80;
const N_BINS: usize = N_FFT / 2 + 1;
/// Whisper's encoder sees at most 30 s (3000 frames).
pub const MAX_FRAMES: usize = 3000;

/// Computes log-mel spectrograms; holds the FFT plan and filter bank between calls.
pub struct MelExtractor {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<[f32; N_BINS]>,
}

impl Default for MelExtractor {
    fn default() -> Self {
        Self::new(N_MELS)
    }
}

impl MelExtractor {
    /// An extractor of `n_mels` bands (the model's own count: 80, or 128 for large-v3).
    pub fn new(n_mels: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        // Periodic Hann, as torch.hann_window.
        let window = (0..N_FFT).map(|n| 0.5 - 0.5 * (std::f32::consts::TAU * n as f32 / N_FFT as f32).cos()).collect();
        Self { fft, window, filters: mel_filters(16_000.0, n_mels) }
    }

    pub fn n_mels(&self) -> usize {
        self.filters.len()
    }

    /// Features for `samples` (16 kHz) followed by `margin` samples of silence, as a row-major
    /// `[n_mels, frames]` matrix; `frames` is even and at most [`MAX_FRAMES`].
    pub fn features(&self, samples: &[f32], margin: usize) -> (Vec<f32>, usize) {
        let mut audio = samples.to_vec();
        audio.resize(samples.len() + margin, 0.0);
        let frames = (audio.len() / HOP).clamp(2, MAX_FRAMES) & !1;
        audio.resize(audio.len().max(frames * HOP), 0.0);

        let padded = reflect_pad(&audio, N_FFT / 2);
        let mut mel = vec![0.0f32; self.n_mels() * frames];
        let mut input = vec![0.0f32; N_FFT];
        let mut spectrum = self.fft.make_output_vec();
        let mut power = [0.0f32; N_BINS];
        for t in 0..frames {
            let start = t * HOP;
            for (i, slot) in input.iter_mut().enumerate() {
                *slot = padded[start + i] * self.window[i];
            }
            self.fft.process(&mut input, &mut spectrum).expect("buffers sized by the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, filter) in self.filters.iter().enumerate() {
                let energy: f32 = filter.iter().zip(&power).map(|(w, p)| w * p).sum();
                mel[m * frames + t] = energy.max(1e-10).log10();
            }
        }
        let max = mel.iter().copied().fold(f32::MIN, f32::max);
        for v in &mut mel {
            *v = (v.max(max - 8.0) + 4.0) / 4.0;
        }
        (mel, frames)
    }
}

fn reflect_pad(audio: &[f32], pad: usize) -> Vec<f32> {
    let n = audio.len();
    let at = |i: isize| -> f32 {
        let mut i = i;
        if n == 1 {
            return audio[0];
        }
        let period = 2 * (n as isize - 1);
        i = i.rem_euclid(period);
        if i >= n as isize {
            i = period - i;
        }
        audio[i as usize]
    };
    (-(pad as isize)..(n + pad) as isize).map(at).collect()
}

// Slaney's mel scale, as librosa (htk=False): linear below 1 kHz, logarithmic above.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// librosa.filters.mel(sr, n_fft=400, n_mels) with Slaney normalisation, as Whisper builds them.
fn mel_filters(rate: f64, n_mels: usize) -> Vec<[f32; N_BINS]> {
    let max_mel = hz_to_mel(rate / 2.0);
    let points: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(max_mel * i as f64 / (n_mels + 1) as f64)).collect();
    let bin_hz = |k: usize| k as f64 * rate / N_FFT as f64;
    (0..n_mels)
        .map(|m| {
            let (lo, center, hi) = (points[m], points[m + 1], points[m + 2]);
            let norm = 2.0 / (hi - lo);
            let mut row = [0.0f32; N_BINS];
            for (k, w) in row.iter_mut().enumerate() {
                let f = bin_hz(k);
                let rising = (f - lo) / (center - lo);
                let falling = (hi - f) / (hi - center);
                *w = (rising.min(falling).max(0.0) * norm) as f32;
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips() {
        for hz in [0.0, 500.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
    }

    #[test]
    fn filters_cover_the_spectrum_in_order() {
        let filters = mel_filters(16_000.0, N_MELS);
        let peaks: Vec<usize> =
            filters.iter().map(|row| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0).collect();
        assert!(peaks.windows(2).all(|w| w[0] <= w[1]));
        assert!(filters.iter().all(|row| row.iter().any(|&w| w > 0.0)));
    }

    #[test]
    fn a_tone_lights_up_the_matching_band() {
        let tone: Vec<f32> =
            (0..16_000).map(|i| (i as f32 / 16_000.0 * 1000.0 * std::f32::consts::TAU).sin()).collect();
        for n_mels in [80, 128] {
            let (mel, frames) = MelExtractor::new(n_mels).features(&tone, 0);
            assert_eq!((mel.len(), frames), (n_mels * 100, 100));
            let band_energy = |m: usize| mel[m * frames + 50];
            let loudest = (0..n_mels).max_by(|&a, &b| band_energy(a).total_cmp(&band_energy(b))).unwrap();
            let centre_hz = mel_to_hz(hz_to_mel(8000.0) * (loudest + 1) as f64 / (n_mels + 1) as f64);
            assert!((centre_hz - 1000.0).abs() < 100.0, "{n_mels} bands: band {loudest} centred at {centre_hz} Hz");
        }
    }

    #[test]
    fn margin_adds_frames_and_frame_count_is_even() {
        let extractor = MelExtractor::default();
        let (_, frames) = extractor.features(&vec![0.1; 16_000], 16_000);
        assert_eq!(frames, 200);
        let (_, odd) = extractor.features(&vec![0.1; 16_160], 0);
        assert_eq!(odd % 2, 0);
    }
}
