use super::*;

#[test]
fn downmix_averages_channels() {
    let mut out = Vec::new();
    assert_eq!(downmix_into(&[1.0, 0.0, 0.5, 0.5], 2, &mut Vec::new(), &mut out), 0);
    assert_eq!(out, vec![0.5, 0.5]);
}

#[test]
fn non_finite_samples_are_repaired_and_counted() {
    let (mut out, mut last) = (Vec::new(), Vec::new());
    assert_eq!(downmix_into(&[f32::NAN, 0.5, f32::INFINITY, f32::NEG_INFINITY], 1, &mut last, &mut out), 3);
    assert_eq!(out, vec![0.0, 0.5, 0.5, 0.5]);
    // The last good sample carries over to the next packet, per channel.
    assert_eq!(downmix_into(&[f32::NAN, 0.25], 1, &mut last, &mut out), 1);
    assert_eq!(&out[4..], &[0.5, 0.25]);
}

#[test]
fn samples_beyond_full_scale_are_clipped_so_nothing_overflows() {
    let mut out = Vec::new();
    assert_eq!(downmix_into(&[f32::MAX, f32::MAX, -3.0, 0.5], 2, &mut Vec::new(), &mut out), 0);
    assert_eq!(out, vec![1.0, -0.25]);
}

/// A mono 16-bit WAV header for `frames` frames (0xFFFFFFFF sizes when `None`).
fn wav(rate: u32, samples: &[i16], declared: Option<u32>) -> Vec<u8> {
    let data = declared.map_or(u32::MAX, |frames| frames * 2);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&data.saturating_add(36).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    bytes.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    bytes
}

fn decode(bytes: Vec<u8>) -> Result<Vec<f32>, DecodeError> {
    let mut reader = AudioReader::from_bytes(bytes, "test.wav", 16_000)?;
    let mut out = Vec::new();
    while let Some(piece) = reader.next_chunk()? {
        out.extend(piece);
    }
    Ok(out)
}

#[test]
fn unknown_length_wav_from_a_pipe_is_read_to_its_end() {
    let samples = vec![1000i16; 8_000];
    assert_eq!(decode(wav(16_000, &samples, None)).unwrap().len(), 8_000);
}

#[test]
fn a_short_data_chunk_is_truncated() {
    let err = decode(wav(16_000, &[0; 8_000], Some(16_000))).unwrap_err().to_string();
    assert!(err.contains("truncated") && err.contains("1.00 s") && err.contains("0.50 s"), "{err}");
}

#[test]
fn a_damaged_sample_rate_is_corrupt_not_a_panic() {
    let err = decode(wav(0, &[0; 100], Some(100))).unwrap_err();
    assert!(matches!(err, DecodeError::Corrupt { .. } | DecodeError::Unsupported { .. }), "{err}");
}

#[test]
fn pieces_add_up_to_the_resampled_length() {
    let samples: Vec<i16> = (0..44_100).map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16).collect();
    let mut reader = AudioReader::from_bytes(wav(44_100, &samples, Some(44_100)), "t", 16_000).unwrap();
    let mut total = 0;
    while let Some(piece) = reader.next_chunk().unwrap() {
        total += piece.len();
    }
    assert_eq!(total, 16_000);
    assert!((reader.duration_s() - 1.0).abs() < 1e-9);
}
