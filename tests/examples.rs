//! `examples/forward.rs`: its shader validates, its GPU forward pass matches the CPU one, and
//! its CPU forward pass computes what the notebook's printed weights give by hand.

mod common;

#[allow(dead_code)]
#[path = "../examples/forward.rs"]
mod forward;

#[test]
fn the_forward_shader_parses_and_validates_with_naga() {
    let module = naga::front::wgsl::parse_str(forward::FORWARD_WGSL).expect("forward.wgsl parses");
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .expect("forward.wgsl validates");
}

#[test]
fn the_cpu_forward_pass_is_the_notebook_networks_by_hand() {
    // The README's `weight-init init --layers 2,4,3,1 --scheme he --seed 7`, to 8 decimals.
    let w1 = [
        [-0.37998906, 0.86776203],
        [-0.95523363, -0.25390244],
        [-1.1193862, -0.05690034],
        [-0.30943418, 0.27360001],
    ];
    let w2 = [
        [0.22959715, 0.51047421, -0.2933782, 0.22371612],
        [1.46764719, -0.09219243, -0.60418332, 1.04657245],
        [0.35762358, 0.36967334, 0.77262563, 0.93016922],
    ];
    let w3 = [-0.00200681, -0.15598473, 1.21492326];
    let dense = |w: &[&[f64]], x: &[f64], relu: bool| -> Vec<f64> {
        w.iter()
            .map(|row| {
                let s: f64 = row.iter().zip(x).map(|(a, b)| a * b).sum();
                if relu { s.max(0.0) } else { s }
            })
            .collect()
    };
    let case = &forward::cases()[0];
    let got = forward::cpu_forward(case).unwrap();
    for (b, x) in case.inputs.chunks(2).enumerate() {
        let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let h1 = dense(&w1.iter().map(|r| &r[..]).collect::<Vec<_>>(), &x, true);
        let h2 = dense(&w2.iter().map(|r| &r[..]).collect::<Vec<_>>(), &h1, true);
        let y = dense(&[&w3[..]], &h2, false)[0];
        // 8 printed decimals and f32 arithmetic: errors of a few 1e-8 per weight.
        assert!(
            (f64::from(got[b]) - y).abs() < 1e-6,
            "input {b}: {} vs {y} by hand",
            got[b]
        );
    }
}

#[test]
fn the_gpu_forward_pass_over_gpu_filled_weights_matches_the_cpu_one() {
    let Some(gpu) = common::gpu("the_gpu_forward_pass_over_gpu_filled_weights_matches") else {
        return;
    };
    let kernel = forward::ForwardKernel::new(&gpu).unwrap();
    for case in forward::cases() {
        let on_gpu = kernel.run(&gpu, &case).unwrap();
        let cpu = forward::cpu_forward(&case).unwrap();
        assert_eq!(on_gpu.len(), cpu.len(), "{}", case.name);
        // Outputs of order 1, not all zero (a forward pass that wrote nothing would pass a
        // difference check against an all-zero reference).
        assert!(cpu.iter().any(|v| v.abs() > 1e-3), "{}", case.name);
        let (max_abs, max_rel) = forward::differences(&on_gpu, &cpu);
        assert!(
            max_rel <= forward::TOLERANCE,
            "{}: max abs difference {max_abs}, relative {max_rel}",
            case.name
        );
    }
}
