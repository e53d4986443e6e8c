//! The synthetic shapes task is graded: a linear classifier (softmax regression trained by SGD)
//! solves the easiest level near-perfectly and does much worse on the hardest one, which needs
//! more computation.

use pact::Rng;
use pact_models::data::shapes::{generate, ShapesConfig, LEVELS};
use pact_models::data::ImageSet;

struct Linear {
    classes: usize,
    inputs: usize,
    /// `classes × (inputs + 1)`, the bias last in each row.
    w: Vec<f32>,
}

impl Linear {
    fn logits(&self, x: &[f32]) -> Vec<f32> {
        self.w
            .chunks_exact(self.inputs + 1)
            .map(|row| row[self.inputs] + row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>())
            .collect()
    }

    fn train(set: &ImageSet, epochs: usize, rng: &mut Rng) -> Linear {
        let inputs = set.image_len();
        let mut m = Linear {
            classes: set.num_classes,
            inputs,
            w: vec![0.0; set.num_classes * (inputs + 1)],
        };
        for epoch in 0..epochs {
            let lr = 0.05 / (1.0 + 0.2 * epoch as f32);
            for i in rng.permutation(set.len()) {
                let x = set.image(i);
                let mut p = m.logits(x);
                let top = p.iter().copied().fold(f32::MIN, f32::max);
                p.iter_mut().for_each(|l| *l = (*l - top).exp());
                let z: f32 = p.iter().sum();
                for (k, &pk) in p.iter().enumerate() {
                    let g = pk / z - f32::from(u8::from(k == set.labels[i]));
                    let row = &mut m.w[k * (inputs + 1)..(k + 1) * (inputs + 1)];
                    for (wj, xj) in row.iter_mut().zip(x) {
                        *wj -= lr * g * xj;
                    }
                    row[inputs] -= lr * g;
                }
            }
        }
        m
    }

    fn accuracy_per_level(&self, set: &ImageSet) -> Vec<f32> {
        let d = set.difficulty.as_ref().expect("shapes store difficulty");
        let mut correct = [0usize; LEVELS];
        let mut total = [0usize; LEVELS];
        for i in 0..set.len() {
            let l = self.logits(set.image(i));
            let guess = (0..self.classes)
                .max_by(|&a, &b| l[a].total_cmp(&l[b]))
                .unwrap_or(0);
            total[d[i]] += 1;
            correct[d[i]] += usize::from(guess == set.labels[i]);
        }
        correct
            .iter()
            .zip(&total)
            .map(|(&c, &t)| c as f32 / t as f32)
            .collect()
    }
}

#[test]
fn easy_level_is_linearly_separable_and_levels_get_harder() {
    let config = ShapesConfig {
        size: 16,
        channels: 1,
        classes: 6,
        ..ShapesConfig::default()
    };
    let train = generate(3000, &config, &mut Rng::seed(1)).unwrap();
    let test = generate(600, &config, &mut Rng::seed(2)).unwrap();
    let model = Linear::train(&train, 10, &mut Rng::seed(3));
    let acc = model.accuracy_per_level(&test);
    assert!(acc[0] >= 0.97, "{acc:?}");
    assert!(acc[1] >= acc[2] && acc[2] >= acc[3], "{acc:?}");
    assert!(acc[3] < acc[0] - 0.3, "{acc:?}");
    assert!(
        acc[3] > 1.5 / 6.0,
        "the hardest level is still above chance: {acc:?}"
    );
}
