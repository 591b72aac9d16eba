//! Spec files, JSON and TOML: any input gives a model or a one-line error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weight_init::model::{Model, SpecFormat};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [SpecFormat::Json, SpecFormat::Toml] {
        if let Err(e) = Model::from_spec_str(text, format) {
            let message = e.to_string();
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{message:?}"
            );
        }
    }
});
