//! Hugging Face `config.json` files: any input gives a model or a one-line error, never a
//! panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weight_init::model::Model;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Model::from_hf_config_str(text) {
        let message = e.to_string();
        assert!(
            !message.is_empty() && !message.contains('\n'),
            "{message:?}"
        );
    }
});
