//! Data parallelism: what the replicas of a run exchange at every step, through a
//! [`Collective`].
//!
//! Each replica computes the loss of its shard of the global batch. Before the backward pass
//! the replicas sum, in one small `f64` message, their shard losses and metrics weighted by
//! the shard's share of the batch (giving the global batch's values), and whether any of them
//! was asked to stop. Each replica then differentiates its loss scaled by its share, and the
//! gradients are summed in a few fused buckets of at most [`BUCKET_BYTES`] (`f32` for `f32`
//! models), with one flag per parameter saying whether any replica produced its gradient.

use crate::{Error, Result};
use pact::collective::Collective;
use pact::nn::{Param, ParamStore};
use pact::{DType, GradStore, Tensor};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

/// The most bytes of gradients summed in one collective call: ResNet-32's gradients
/// (1.9 MB in `f32`) travel in one bucket, ResNet-110's (6.9 MB) in two.
pub const BUCKET_BYTES: usize = 4 << 20;

/// What the replicas agree on before the backward pass of a step.
pub(crate) struct Agreed {
    /// The loss of the global batch.
    pub(crate) loss: f64,
    /// The metrics of the global batch.
    pub(crate) metrics: Vec<(String, f64)>,
    /// Whether any replica was asked to stop.
    pub(crate) stop: bool,
}

/// Sums the shard's loss and metrics, weighted by `share` (the shard's fraction of the
/// global batch), and the stop requests over the replicas. Metrics are weighted means, exact
/// for the per-example means a step reports (accuracy, mean units).
pub(crate) fn agree_on_step(
    group: &Arc<dyn Collective>,
    loss: f64,
    metrics: &[(String, f64)],
    share: f64,
    stop: bool,
) -> Result<Agreed> {
    let mut values = Vec::with_capacity(metrics.len() + 3);
    values.push(share * loss);
    values.extend(metrics.iter().map(|(_, v)| share * v));
    values.push(if stop { 1.0 } else { 0.0 });
    // The number of metrics, so that a replica reporting other metrics is noticed.
    values.push(metrics.len() as f64);
    group.allreduce_sum_f64(&mut values)?;
    let expected = (metrics.len() * group.size()) as f64;
    if values[values.len() - 1] != expected {
        return Err(Error::InvalidConfig(format!(
            "replica {} reports {} metrics, but the replicas together report {}: every replica \
             must run the same step",
            group.rank(),
            metrics.len(),
            values[values.len() - 1]
        )));
    }
    Ok(Agreed {
        loss: values[0],
        metrics: metrics
            .iter()
            .zip(&values[1..])
            .map(|((n, _), v)| (n.clone(), *v))
            .collect(),
        stop: values[values.len() - 2] > 0.0,
    })
}

/// Consecutive parameters, by index, whose gradients fill at most `bucket_bytes` (a single
/// larger parameter has a bucket of its own).
fn buckets(sizes: &[usize], elem_bytes: usize, bucket_bytes: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &n) in sizes.iter().enumerate() {
        let b = n * elem_bytes;
        if i > start && bytes + b > bucket_bytes {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += b;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// A gradient element type that travels as itself.
trait Element: Copy + Default {
    fn values(t: &Tensor) -> Vec<Self>;
    fn tensor(values: &[Self], like: &Tensor) -> pact::Result<Tensor>;
    fn sum(group: &Arc<dyn Collective>, values: &mut [Self]) -> pact::Result<()>;
    fn flag(set: bool) -> Self;
    fn is_set(self) -> bool;
}

impl Element for f32 {
    fn values(t: &Tensor) -> Vec<f32> {
        t.to_f32_vec()
    }
    fn tensor(values: &[f32], like: &Tensor) -> pact::Result<Tensor> {
        Tensor::from_f32_vec(values.to_vec(), like.shape().clone(), like.device())
    }
    fn sum(group: &Arc<dyn Collective>, values: &mut [f32]) -> pact::Result<()> {
        group.allreduce_sum_f32(values)
    }
    fn flag(set: bool) -> f32 {
        f32::from(u8::from(set))
    }
    fn is_set(self) -> bool {
        self > 0.0
    }
}

impl Element for f64 {
    fn values(t: &Tensor) -> Vec<f64> {
        t.to_f64_vec()
    }
    fn tensor(values: &[f64], like: &Tensor) -> pact::Result<Tensor> {
        Tensor::from_f64_slice(values, like.shape().clone(), like.dtype(), like.device())
    }
    fn sum(group: &Arc<dyn Collective>, values: &mut [f64]) -> pact::Result<()> {
        group.allreduce_sum_f64(values)
    }
    fn flag(set: bool) -> f64 {
        f64::from(u8::from(set))
    }
    fn is_set(self) -> bool {
        self > 0.0
    }
}

/// Sums the gradients of `params` over the replicas, in buckets of at most `bucket_bytes`:
/// afterwards every replica holds the gradient of the global loss (each replica's loss was
/// scaled by its share of the batch), for every parameter that has one on any replica.
/// `f32` models' gradients travel as `f32`, others as `f64`.
pub(crate) fn sum_gradients(
    group: &Arc<dyn Collective>,
    grads: &mut GradStore,
    params: &[(String, Param)],
    bucket_bytes: usize,
) -> Result<()> {
    let values: Vec<Tensor> = params.iter().map(|(_, p)| p.tensor()).collect();
    if values.iter().all(|v| v.dtype() == DType::F32) {
        sum_as::<f32>(group, grads, &values, bucket_bytes)
    } else {
        sum_as::<f64>(group, grads, &values, bucket_bytes)
    }
}

fn sum_as<E: Element>(
    group: &Arc<dyn Collective>,
    grads: &mut GradStore,
    values: &[Tensor],
    bucket_bytes: usize,
) -> Result<()> {
    let sizes: Vec<usize> = values.iter().map(|v| v.elem_count()).collect();
    let mut present = vec![false; values.len()];
    let ranges = buckets(&sizes, std::mem::size_of::<E>(), bucket_bytes);
    for (b, range) in ranges.into_iter().enumerate() {
        let mut buf: Vec<E> = Vec::new();
        for v in &values[range.clone()] {
            match grads.get(v) {
                Some(g) => buf.extend(E::values(g)),
                None => buf.extend(std::iter::repeat_n(E::default(), v.elem_count())),
            }
        }
        // The first bucket also carries one flag per parameter: whether it has a gradient.
        let at = buf.len();
        if b == 0 {
            buf.extend(values.iter().map(|v| E::flag(grads.get(v).is_some())));
        }
        E::sum(group, &mut buf)?;
        if b == 0 {
            for (p, f) in present.iter_mut().zip(&buf[at..]) {
                *p = f.is_set();
            }
        }
        let mut offset = 0;
        for i in range {
            let (v, n) = (&values[i], sizes[i]);
            if present[i] {
                grads.insert(v.id(), E::tensor(&buf[offset..offset + n], v)?);
            }
            offset += n;
        }
    }
    Ok(())
}

/// A hash of every parameter and buffer of `store`, bit for bit.
fn fingerprint(store: &ParamStore) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (name, t) in store.tensors() {
        name.hash(&mut h);
        match t.dtype() {
            DType::F32 => t.to_f32_vec().iter().for_each(|v| v.to_bits().hash(&mut h)),
            _ => t.to_f64_vec().iter().for_each(|v| v.to_bits().hash(&mut h)),
        }
    }
    h.finish()
}

/// Checks that every replica holds the same parameters and buffers (bit for bit) after
/// `step`; the error names the replicas that differ from replica 0.
pub(crate) fn check_in_step(
    group: &Arc<dyn Collective>,
    store: &ParamStore,
    step: u64,
) -> Result<()> {
    let all = group.allgather_bytes(&fingerprint(store).to_le_bytes())?;
    let differ: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(_, h)| *h != &all[0])
        .map(|(r, _)| r.to_string())
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidConfig(format!(
        "after step {step} the parameters of replica(s) {} differ from those of replica 0 \
         (the sums over replicas were not the same on every replica); resume from the last \
         checkpoint, which holds replica 0's",
        differ.join(", ")
    )))
}

/// Refuses a data-parallel run in which some batch would have fewer examples than there are
/// replicas (a replica would have no example to compute on).
pub(crate) fn check_batches(
    replicas: usize,
    num_examples: usize,
    batch_size: usize,
    total_steps: u64,
) -> Result<()> {
    let full = batch_size.min(num_examples);
    let last = match num_examples % batch_size {
        0 => full,
        r => r,
    };
    let per_epoch = num_examples.div_ceil(batch_size) as u64;
    let smallest = if total_steps >= per_epoch { last } else { full };
    if smallest < replicas {
        return Err(Error::InvalidConfig(format!(
            "data-parallel training on {replicas} replicas needs at least {replicas} examples in \
             every batch, but batches of {batch_size} over {num_examples} examples leave {smallest} \
             in the last batch of each epoch (choose a batch size that divides the data or \
             leaves at least {replicas})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pact::collective::ThreadGroup;
    use pact::Device;

    #[test]
    fn buckets_respect_the_limit_and_keep_large_tensors_whole() {
        assert_eq!(
            buckets(&[2, 2, 2, 10, 1], 4, 16),
            vec![0..2, 2..3, 3..4, 4..5]
        );
        assert_eq!(buckets(&[1, 1, 1], 8, 1 << 20), vec![0..3]);
    }

    #[test]
    fn gradients_are_summed_with_presence_in_several_buckets() {
        for dtype in [DType::F32, DType::F64] {
            let members = ThreadGroup::new(2);
            let out: Vec<Vec<Option<Vec<f64>>>> = std::thread::scope(|s| {
                let handles: Vec<_> = members
                    .into_iter()
                    .map(|m| {
                        s.spawn(move || {
                            let group: Arc<dyn Collective> = Arc::new(m);
                            let r = group.rank() as f64;
                            let store = ParamStore::new(dtype, Device::Cpu);
                            let names = ["a", "b", "c"];
                            for (i, n) in names.iter().enumerate() {
                                store
                                    .create(n, Tensor::zeros([3 + i], dtype, Device::Cpu))
                                    .unwrap();
                            }
                            let params = store.trainable();
                            let mut grads = GradStore::new();
                            // "a" on both replicas, "b" only on replica 1, "c" on neither.
                            for (name, p) in &params {
                                let v = p.tensor();
                                let has = name == "a" || (name == "b" && r == 1.0);
                                if has {
                                    let g = Tensor::from_f64_slice(
                                        &vec![r + 1.0; v.elem_count()],
                                        v.shape().clone(),
                                        dtype,
                                        Device::Cpu,
                                    )
                                    .unwrap();
                                    grads.insert(v.id(), g);
                                }
                            }
                            // 16 bytes: one parameter per bucket.
                            sum_gradients(&group, &mut grads, &params, 16).unwrap();
                            params
                                .iter()
                                .map(|(_, p)| grads.get(&p.tensor()).map(|g| g.to_f64_vec()))
                                .collect()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for grads in out {
                assert_eq!(grads[0], Some(vec![3.0; 3]));
                assert_eq!(grads[1], Some(vec![2.0; 4]));
                assert_eq!(grads[2], None);
            }
        }
    }

    #[test]
    fn batches_too_small_for_the_replicas_are_refused() {
        assert!(check_batches(3, 10, 4, 10).is_err()); // last batch of 2
        assert!(check_batches(3, 10, 4, 2).is_ok()); // the last batch is never reached
        assert!(check_batches(2, 10, 5, 10).is_ok());
        let e = check_batches(4, 2, 8, 1).unwrap_err().to_string();
        assert!(e.contains("at least 4 examples"), "{e}");
    }
}
