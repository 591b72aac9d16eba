//! Hugging Face `config.json` files of the GPT-2 and Llama families: their state dicts and
//! published initialization, and built-in presets.
//!
//! GPT-2 (`modeling_gpt2.py`, `GPT2PreTrainedModel._init_weights`): linear, `Conv1D` and
//! embedding weights N(0, initializer_range^2); the residual projections `c_proj.weight` N(0,
//! (initializer_range / sqrt(2 n_layer))^2); biases zero; LayerNorm weights one. `Conv1D`
//! weights are stored (in, out). The LM head is tied to `wte` unless
//! `tie_word_embeddings` is false, and a tied head is written once, as `wte`.
//!
//! Llama (`modeling_llama.py`, `LlamaPreTrainedModel._init_weights`): linear and embedding
//! weights N(0, initializer_range^2); RMSNorm weights one; biases (when `attention_bias` or
//! `mlp_bias`) zero. Linear weights are stored (out, in).

use serde_json::Value;

use super::Model;
use crate::error::{Error, Result};
use crate::scheme::Scheme;
use crate::spec::TensorSpec;

/// Built-in presets: name and `config.json` text (the published configurations' shapes).
pub const PRESETS: &[(&str, &str)] = &[
    (
        "gpt2",
        r#"{"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": 768,
            "n_layer": 12, "n_head": 12, "initializer_range": 0.02}"#,
    ),
    (
        "gpt2-medium",
        r#"{"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": 1024,
            "n_layer": 24, "n_head": 16, "initializer_range": 0.02}"#,
    ),
    (
        "llama-7b",
        r#"{"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096,
            "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 32, "initializer_range": 0.02, "tie_word_embeddings": false}"#,
    ),
    (
        "llama-tiny",
        r#"{"model_type": "llama", "vocab_size": 512, "hidden_size": 64,
            "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "initializer_range": 0.02, "tie_word_embeddings": false}"#,
    ),
];

/// Reads `config.json` text and builds the model for its `model_type`.
pub(super) fn from_config_str(text: &str) -> Result<Model> {
    let config: Value =
        serde_json::from_str(text).map_err(|e| Error::invalid("config", e.to_string()))?;
    let config = Config(&config);
    let tensors = match config.str("model_type")? {
        "gpt2" => gpt2(&config)?,
        "llama" => llama(&config)?,
        other => {
            return Err(Error::invalid(
                "config",
                format!("model_type {other:?} is not supported; expected gpt2 or llama"),
            ));
        }
    };
    Model::new(tensors)
}

/// Typed access to a config's fields, with errors that name the field.
struct Config<'a>(&'a Value);

impl Config<'_> {
    fn field(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn str(&self, key: &str) -> Result<&str> {
        self.field(key)
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid("config", format!("missing or non-string field {key:?}")))
    }

    fn dim(&self, key: &str) -> Result<u64> {
        match self.field(key).and_then(Value::as_u64) {
            Some(v) if v > 0 => Ok(v),
            _ => Err(Error::invalid(
                "config",
                format!(
                    "field {key:?} must be a positive integer, got {}",
                    self.describe(key)
                ),
            )),
        }
    }

    fn dim_or(&self, key: &str, default: u64) -> Result<u64> {
        if self.field(key).is_some() {
            self.dim(key)
        } else {
            Ok(default)
        }
    }

    fn float_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.field(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| {
                    Error::invalid(
                        "config",
                        format!("field {key:?} must be a number >= 0, got {v}"),
                    )
                }),
        }
    }

    fn flag_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.field(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| {
                Error::invalid(
                    "config",
                    format!("field {key:?} must be true or false, got {v}"),
                )
            }),
        }
    }

    /// The `num_layers` field: a positive integer of at most [`MAX_LAYERS`].
    fn layers(&self, key: &str) -> Result<u64> {
        let layers = self.dim(key)?;
        if layers > MAX_LAYERS {
            return Err(Error::TooLarge {
                what: "config layer count",
                value: format!("field {key:?} = {layers}"),
                limit: MAX_LAYERS.to_string(),
            });
        }
        Ok(layers)
    }

    fn describe(&self, key: &str) -> String {
        self.field(key)
            .map_or_else(|| "nothing".to_string(), Value::to_string)
    }
}

/// `a * b`, a tensor dimension made from config fields; `formula` names them in the error.
fn product(a: u64, b: u64, formula: &str) -> Result<u64> {
    a.checked_mul(b).ok_or_else(|| Error::TooLarge {
        what: "config dimension",
        value: format!("{formula} = {a} * {b}"),
        limit: u64::MAX.to_string(),
    })
}

fn normal(std: f64) -> Scheme {
    Scheme::Normal { mean: 0.0, std }
}

/// Most layers a config may declare: far above any published model (a few hundred), and low
/// enough that the list of tensors is built in moments.
const MAX_LAYERS: u64 = 10_000;

const ZEROS: Scheme = Scheme::Constant { value: 0.0 };
const ONES: Scheme = Scheme::Constant { value: 1.0 };

fn gpt2(c: &Config<'_>) -> Result<Vec<TensorSpec>> {
    let vocab = c.dim("vocab_size")?;
    let positions = c.dim_or("n_positions", c.dim_or("n_ctx", 1024)?)?;
    let d = c.dim("n_embd")?;
    let layers = c.layers("n_layer")?;
    let inner = c.dim_or("n_inner", product(4, d, "4 * n_embd")?)?;
    let qkv = product(3, d, "3 * n_embd")?;
    let std = c.float_or("initializer_range", 0.02)?;
    let proj_std = std / (2.0 * layers as f64).sqrt();

    let mut t = vec![
        TensorSpec::new("transformer.wte.weight", vec![vocab, d], normal(std)),
        TensorSpec::new("transformer.wpe.weight", vec![positions, d], normal(std)),
    ];
    for i in 0..layers {
        let p = format!("transformer.h.{i}");
        t.extend([
            TensorSpec::new(format!("{p}.ln_1.weight"), vec![d], ONES),
            TensorSpec::new(format!("{p}.ln_1.bias"), vec![d], ZEROS),
            TensorSpec::new(format!("{p}.attn.c_attn.weight"), vec![d, qkv], normal(std)),
            TensorSpec::new(format!("{p}.attn.c_attn.bias"), vec![qkv], ZEROS),
            TensorSpec::new(
                format!("{p}.attn.c_proj.weight"),
                vec![d, d],
                normal(proj_std),
            ),
            TensorSpec::new(format!("{p}.attn.c_proj.bias"), vec![d], ZEROS),
            TensorSpec::new(format!("{p}.ln_2.weight"), vec![d], ONES),
            TensorSpec::new(format!("{p}.ln_2.bias"), vec![d], ZEROS),
            TensorSpec::new(format!("{p}.mlp.c_fc.weight"), vec![d, inner], normal(std)),
            TensorSpec::new(format!("{p}.mlp.c_fc.bias"), vec![inner], ZEROS),
            TensorSpec::new(
                format!("{p}.mlp.c_proj.weight"),
                vec![inner, d],
                normal(proj_std),
            ),
            TensorSpec::new(format!("{p}.mlp.c_proj.bias"), vec![d], ZEROS),
        ]);
    }
    t.push(TensorSpec::new("transformer.ln_f.weight", vec![d], ONES));
    t.push(TensorSpec::new("transformer.ln_f.bias", vec![d], ZEROS));
    if !c.flag_or("tie_word_embeddings", true)? {
        t.push(TensorSpec::new(
            "lm_head.weight",
            vec![vocab, d],
            normal(std),
        ));
    }
    Ok(t)
}

fn llama(c: &Config<'_>) -> Result<Vec<TensorSpec>> {
    let vocab = c.dim("vocab_size")?;
    let h = c.dim("hidden_size")?;
    let inter = c.dim("intermediate_size")?;
    let layers = c.layers("num_hidden_layers")?;
    let heads = c.dim("num_attention_heads")?;
    let kv_heads = c.dim_or("num_key_value_heads", heads)?;
    if !heads.is_multiple_of(kv_heads) {
        // Grouped-query attention shares each key/value head among heads / kv_heads heads.
        return Err(Error::invalid(
            "config",
            format!("num_key_value_heads {kv_heads} does not divide num_attention_heads {heads}"),
        ));
    }
    if c.field("head_dim").is_none() && heads > h {
        return Err(Error::invalid(
            "config",
            format!(
                "num_attention_heads {heads} is more than hidden_size {h}, so heads would have \
                 no dimensions; give head_dim"
            ),
        ));
    }
    let head_dim = c.dim_or("head_dim", h / heads)?;
    let q_dim = product(heads, head_dim, "num_attention_heads * head_dim")?;
    let kv_dim = product(kv_heads, head_dim, "num_key_value_heads * head_dim")?;
    let std = c.float_or("initializer_range", 0.02)?;
    let attention_bias = c.flag_or("attention_bias", false)?;
    let mlp_bias = c.flag_or("mlp_bias", false)?;

    let mut t = vec![TensorSpec::new(
        "model.embed_tokens.weight",
        vec![vocab, h],
        normal(std),
    )];
    let linear = |t: &mut Vec<TensorSpec>, name: String, out: u64, inp: u64, bias: bool| {
        t.push(TensorSpec::new(
            format!("{name}.weight"),
            vec![out, inp],
            normal(std),
        ));
        if bias {
            t.push(TensorSpec::new(format!("{name}.bias"), vec![out], ZEROS));
        }
    };
    for i in 0..layers {
        let p = format!("model.layers.{i}");
        linear(
            &mut t,
            format!("{p}.self_attn.q_proj"),
            q_dim,
            h,
            attention_bias,
        );
        linear(
            &mut t,
            format!("{p}.self_attn.k_proj"),
            kv_dim,
            h,
            attention_bias,
        );
        linear(
            &mut t,
            format!("{p}.self_attn.v_proj"),
            kv_dim,
            h,
            attention_bias,
        );
        linear(
            &mut t,
            format!("{p}.self_attn.o_proj"),
            h,
            q_dim,
            attention_bias,
        );
        linear(&mut t, format!("{p}.mlp.gate_proj"), inter, h, mlp_bias);
        linear(&mut t, format!("{p}.mlp.up_proj"), inter, h, mlp_bias);
        linear(&mut t, format!("{p}.mlp.down_proj"), h, inter, mlp_bias);
        t.push(TensorSpec::new(
            format!("{p}.input_layernorm.weight"),
            vec![h],
            ONES,
        ));
        t.push(TensorSpec::new(
            format!("{p}.post_attention_layernorm.weight"),
            vec![h],
            ONES,
        ));
    }
    t.push(TensorSpec::new("model.norm.weight", vec![h], ONES));
    if !c.flag_or("tie_word_embeddings", false)? {
        t.push(TensorSpec::new(
            "lm_head.weight",
            vec![vocab, h],
            normal(std),
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_small_has_its_published_parameter_count() {
        // GPT-2 small: 124,439,808 parameters (tied head counted once).
        let m = Model::preset("gpt2").unwrap();
        assert_eq!(m.elem_count().unwrap(), 124_439_808);
        assert_eq!(m.tensors.len(), 2 + 12 * 12 + 2);
        let proj = m
            .tensors
            .iter()
            .find(|t| t.name == "transformer.h.0.attn.c_proj.weight")
            .unwrap();
        assert_eq!(
            proj.scheme,
            Scheme::Normal {
                mean: 0.0,
                std: 0.02 / 24f64.sqrt()
            }
        );
    }

    #[test]
    fn llama_7b_has_its_published_parameter_count() {
        // Llama-2-7B: 6,738,415,616 parameters.
        let m = Model::preset("llama-7b").unwrap();
        assert_eq!(m.elem_count().unwrap(), 6_738_415_616);
        assert_eq!(m.tensors.last().unwrap().name, "lm_head.weight");
    }

    #[test]
    fn grouped_query_attention_shrinks_k_and_v() {
        let m = Model::preset("llama-tiny").unwrap();
        let k = m
            .tensors
            .iter()
            .find(|t| t.name == "model.layers.0.self_attn.k_proj.weight")
            .unwrap();
        assert_eq!(k.shape, [2 * 16, 64]);
    }

    #[test]
    fn bad_configs_name_the_field() {
        for (text, needle) in [
            (r#"{"model_type": "bert"}"#, "bert"),
            (
                r#"{"model_type": "gpt2", "n_embd": 768, "n_layer": 12}"#,
                "vocab_size",
            ),
            (
                r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": -4}"#,
                "hidden_size",
            ),
            (
                r#"{"model_type": "gpt2", "vocab_size": 5, "n_embd": 8, "n_layer": 1, "initializer_range": -1}"#,
                "initializer_range",
            ),
            ("{", "EOF"),
        ] {
            let err = from_config_str(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
