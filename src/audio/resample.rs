//! Band-limited resampling of whole buffers (rubato's FFT resampler).

use rubato::{FftFixedIn, Resampler};

use super::Audio;

const CHUNK: usize = 1024;

/// Returns `audio` at `rate`, with the same duration (to the nearest sample).
pub fn resample(audio: &Audio, rate: u32) -> Audio {
    if audio.rate == rate || audio.samples.is_empty() {
        return Audio { samples: audio.samples.clone(), rate };
    }
    let mut resampler =
        FftFixedIn::<f32>::new(audio.rate as usize, rate as usize, CHUNK, 2, 1).expect("sample rates are non-zero");
    let expected = (audio.samples.len() as u64 * u64::from(rate) / u64::from(audio.rate)) as usize;
    let delay = resampler.output_delay();
    let mut out = Vec::with_capacity(expected + delay + CHUNK);
    let mut input = audio.samples.as_slice();
    while input.len() >= resampler.input_frames_next() {
        let (chunk, rest) = input.split_at(resampler.input_frames_next());
        out.extend_from_slice(&resampler.process(&[chunk], None).expect("chunk has the requested length")[0]);
        input = rest;
    }
    if !input.is_empty() {
        out.extend_from_slice(&resampler.process_partial(Some(&[input]), None).expect("partial chunk")[0]);
    }
    // Flush the filter's tail so the last samples come out.
    while out.len() < expected + delay {
        out.extend_from_slice(&resampler.process_partial::<&[f32]>(None, None).expect("flush")[0]);
    }
    out.drain(..delay);
    out.truncate(expected);
    Audio { samples: out, rate }
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
    fn keeps_timing_of_a_click() {
        let mut input = Audio { samples: vec![0.0; 8_000], rate: 8_000 };
        input.samples[4_000] = 1.0;
        let out = resample(&input, 16_000);
        let peak = out.samples.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert!((peak as i64 - 8_000).abs() <= 2, "click moved to {peak}");
    }
}
