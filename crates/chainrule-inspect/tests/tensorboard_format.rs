//! The TensorBoard event-file format, checked against independent
//! computations: the record framing (length, masked CRC-32C of the length
//! and of the data) with a bitwise CRC-32C written here and the mask
//! computed by hand, the events decoded back, and the histograms.

use chainrule_inspect::tensorboard::event::{Event, HistogramProto, SummaryValue, Value, What};
use chainrule_inspect::tensorboard::record::{frame, mask, masked_crc32c, read_records};
use chainrule_inspect::tensorboard::{read_events, EventWriter, FILE_PREFIX};
use prost::Message;

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit.
fn crc32c_bitwise(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The mask written out in 64-bit arithmetic: ((crc >> 15) | (crc << 17)) +
/// 0xa282ead8, modulo 2^32.
fn mask_by_hand(crc: u32) -> u32 {
    let c = u64::from(crc);
    let rotated = (c >> 15) | ((c << 17) & 0xFFFF_FFFF);
    ((rotated + 0xa282_ead8) % (1u64 << 32)) as u32
}

#[test]
fn crc32c_and_its_mask_match_independent_computations() {
    // The CRC-32C check value of the standard test string.
    assert_eq!(crc32c_bitwise(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(mask(0xE306_9283), mask_by_hand(0xE306_9283));
    // 0xE3069283 >> 15 = 0x0001_C60D, its low 15 bits 0x1283 << 17 =
    // 0x2506_0000: rotated 0x2507_C60D; plus 0xa282ead8 (wrapping) is
    // 0xC78A_B0E5.
    assert_eq!(mask_by_hand(0xE306_9283), 0xC78A_B0E5);
    assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
    for s in [&b""[..], b"a", b"brain.Event:2", &[0xff; 100]] {
        assert_eq!(masked_crc32c(s), mask_by_hand(crc32c_bitwise(s)), "{s:?}");
    }
}

#[test]
fn a_record_is_length_crc_data_crc() {
    let data = b"hello, tensorboard";
    let r = frame(data);
    assert_eq!(r.len(), 8 + 4 + data.len() + 4);
    assert_eq!(
        u64::from_le_bytes(r[..8].try_into().unwrap()),
        data.len() as u64
    );
    let len_crc = u32::from_le_bytes(r[8..12].try_into().unwrap());
    assert_eq!(len_crc, mask_by_hand(crc32c_bitwise(&r[..8])));
    assert_eq!(&r[12..12 + data.len()], data);
    let data_crc = u32::from_le_bytes(r[12 + data.len()..].try_into().unwrap());
    assert_eq!(data_crc, mask_by_hand(crc32c_bitwise(data)));

    let mut two = r.clone();
    two.extend(frame(b""));
    assert_eq!(read_records(&two).unwrap(), vec![&data[..], &b""[..]]);
    // A flipped bit in the data, or in the length, is caught; so is a cut.
    let mut bad = r.clone();
    bad[13] ^= 1;
    assert!(read_records(&bad).is_err());
    let mut bad = r.clone();
    bad[0] ^= 1;
    assert!(read_records(&bad).is_err());
    assert!(read_records(&r[..r.len() - 1]).is_err());
}

#[test]
fn the_first_event_of_a_file_is_its_version_and_events_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("made/on/demand");
    let mut w = EventWriter::create(&sub, "host name/with:odd chars", 0).unwrap();
    let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(FILE_PREFIX), "{name}");
    assert!(
        name.contains(".host_name_with_odd_chars.0000000000."),
        "{name}"
    );
    w.scalar("train/loss", 7, 0.25).unwrap();
    let values = [1.0, -2.0, 3.5, 0.0];
    let h = EventWriter::histogram_value("weights/0.weight", &values).unwrap();
    w.summary(8, vec![h, SummaryValue::scalar("x", 1.5)])
        .unwrap();
    w.flush().unwrap();

    let events = read_events(w.path()).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[0].what,
        Some(What::FileVersion("brain.Event:2".into()))
    );
    assert!(events[0].wall_time > 1.6e9);
    assert_eq!(events[1].step, 7);
    assert_eq!(events[1].values()[0].tag, "train/loss");
    assert_eq!(events[1].values()[0].value, Some(Value::SimpleValue(0.25)));
    let Some(Value::Histo(h)) = &events[2].values()[0].value else {
        panic!("not a histogram: {:?}", events[2]);
    };
    assert_eq!(
        (h.min, h.max, h.num, h.sum, h.sum_squares),
        (-2.0, 3.5, 4.0, 2.5, 17.25)
    );
    // A second file in the same folder never replaces the first.
    let w2 = EventWriter::create(&sub, "host name/with:odd chars", 0).unwrap();
    assert_ne!(w2.path(), w.path());
}

#[test]
fn the_file_version_event_encodes_as_protobuf_fields_1_and_3() {
    // wall_time = 1.0 (field 1, 64-bit: tag 0x09), file_version (field 3,
    // length-delimited: tag 0x1a); step 0 is not written (proto3).
    let bytes = Event::file_version(1.0).encode_to_vec();
    let mut want = vec![0x09];
    want.extend(1.0f64.to_le_bytes());
    want.extend([0x1a, 13]);
    want.extend(b"brain.Event:2");
    assert_eq!(bytes, want);
}

#[test]
fn histograms_count_every_value_once_in_closed_right_buckets() {
    let values: Vec<f64> = (0..1000)
        .map(|i| ((i * 37) % 101) as f64 / 10.0 - 5.0)
        .collect();
    let h = HistogramProto::of(&values, 30).unwrap();
    assert_eq!(h.bucket.len(), 30);
    assert_eq!(h.bucket_limit.len(), 30);
    assert_eq!(h.bucket.iter().sum::<f64>(), 1000.0);
    assert_eq!(*h.bucket_limit.last().unwrap(), h.max);
    assert!(h.bucket_limit.windows(2).all(|w| w[0] < w[1]));
    for (i, &count) in h.bucket.iter().enumerate() {
        let lo = if i == 0 {
            f64::NEG_INFINITY
        } else {
            h.bucket_limit[i - 1]
        };
        let want = values
            .iter()
            .filter(|&&v| v > lo && v <= h.bucket_limit[i])
            .count();
        assert_eq!(count, want as f64, "bucket {i}");
    }
    // All equal (a bias of zeros): one bucket.
    let h = HistogramProto::of(&[0.0; 8], 30).unwrap();
    assert_eq!(
        (h.bucket_limit.clone(), h.bucket.clone()),
        (vec![0.0], vec![8.0])
    );
    // NaN and infinities are left out; nothing finite, no histogram.
    let h = HistogramProto::of(&[f64::NAN, 1.0, f64::INFINITY], 30).unwrap();
    assert_eq!(h.num, 1.0);
    assert!(HistogramProto::of(&[f64::NAN], 30).is_none());
}
