//! The training loop: minibatches over a data set, any [`Optimizer`], metrics, a progress
//! bar, JSON-lines or CSV logs, periodic atomic checkpoints, exact resume and a NaN guard.
//!
//! The data order and the random stream handed to each step are pure functions of
//! [`TrainerConfig::seed`] and the step, and a checkpoint holds everything else (parameters,
//! buffers, optimiser state, the step generator's state, the partial log record), so a run
//! resumed from step `k` continues bit for bit as if it had never stopped.
//!
//! With [`Trainer::with_replicas`] the trainer is one replica of a data-parallel run: every
//! replica takes its [`Shard`] of each global batch and the replicas agree through a
//! [`Collective`] (`replicas.rs`): the global loss and metrics, gradients summed in a few
//! fused buckets, batch-norm statistics of the global batch, random draws of the whole
//! batch. The result is what one process computes, up to the order of floating-point sums;
//! replica 0 alone writes logs and checkpoints, and a checkpoint resumes with any number of
//! replicas.
//!
//! One concern per file: [`config`](TrainerConfig), the data order (`order.rs`), the step's
//! input and output ([`Batch`], [`StepOutput`]), metric averaging ([`Record`]), logs
//! ([`LogFormat`]), checkpoints (`state.rs`), the NaN guard (`guard.rs`), the progress bar
//! and Ctrl-C ([`ctrl_c_flag`]), data parallelism (`replicas.rs`).

mod config;
mod guard;
mod interrupt;
mod log;
mod metrics;
mod order;
mod progress;
mod replicas;
mod state;
mod step;

pub use config::{Stop, TrainerConfig};
pub use interrupt::ctrl_c_flag;
pub use log::LogFormat;
pub use metrics::Record;
pub use replicas::BUCKET_BYTES;
pub use state::{META_KEY, OPTIM_PREFIX};
pub use step::{Batch, StepOutput};

use crate::{Error, Result};
use log::LogWriter;
use metrics::Window;
use order::{derived_rng, DataOrder, Stream};
use pact::collective::{with_replicas, Collective};
use pact::nn::{checkpoint, clip_grad_norm, Optimizer, ParamStore};
use pact::{Rng, Shard};
use progress::Progress;
use state::TrainerState;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a call of [`Trainer::fit`] did.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// Steps completed in total (including those before a resume).
    pub step: u64,
    /// Whether the loop stopped early because the stop flag was set.
    pub interrupted: bool,
    /// The log records written during this call.
    pub records: Vec<Record>,
    /// The last checkpoint written or resumed from.
    pub last_checkpoint: Option<PathBuf>,
    /// Wall-clock time of this call.
    pub elapsed: Duration,
}

/// Trains the parameters of a [`ParamStore`] with an optimiser `O`; see the
/// [module documentation](self) and [`Trainer::fit`].
pub struct Trainer<O: Optimizer> {
    config: TrainerConfig,
    store: ParamStore,
    optimizer: O,
    rng: Rng,
    step: u64,
    window: Window,
    num_examples: Option<usize>,
    last_checkpoint: Option<PathBuf>,
    stop_flag: Option<Arc<AtomicBool>>,
    metadata: BTreeMap<String, String>,
    replicas: Option<Arc<dyn Collective>>,
}

impl<O: Optimizer> Trainer<O> {
    /// A trainer at step 0 for the parameters in `store` (initialise them first), after
    /// checking `config`. The optimiser should update `store.trainable()`.
    pub fn new(config: TrainerConfig, store: ParamStore, optimizer: O) -> Result<Self> {
        config.validate()?;
        Ok(Trainer {
            rng: derived_rng(config.seed, Stream::Step),
            config,
            store,
            optimizer,
            step: 0,
            window: Window::default(),
            num_examples: None,
            last_checkpoint: None,
            stop_flag: None,
            metadata: BTreeMap::new(),
            replicas: None,
        })
    }

    /// The same trainer as one replica of a data-parallel run over `group` (see the
    /// [module documentation](self)): every replica must be built the same way (model,
    /// initialisation, configuration) and call the same methods. A group of one replica
    /// trains exactly as no group.
    pub fn with_replicas(mut self, group: Arc<dyn Collective>) -> Self {
        self.replicas = Some(group);
        self
    }

    /// The group of a data-parallel run of more than one replica.
    fn group(&self) -> Option<Arc<dyn Collective>> {
        self.replicas.clone().filter(|g| g.size() > 1)
    }

    /// Whether this trainer writes logs and checkpoints (replica 0, or the only one).
    fn is_root(&self) -> bool {
        self.replicas.as_ref().is_none_or(|g| g.rank() == 0)
    }

    /// The bytes of the file at `path`, read by replica 0 and sent to every replica (`None`
    /// if it does not exist).
    fn read_on_root(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        let read = || match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        };
        let Some(group) = self.group() else {
            return read();
        };
        // One status byte (0: the bytes follow, 1: no file, 2: an error message follows).
        let mut message = Vec::new();
        if group.rank() == 0 {
            message = match read() {
                Ok(Some(bytes)) => [vec![0], bytes].concat(),
                Ok(None) => vec![1],
                Err(e) => [vec![2], e.to_string().into_bytes()].concat(),
            };
        }
        group.broadcast_bytes(&mut message, 0)?;
        match message.split_first() {
            Some((0, bytes)) => Ok(Some(bytes.to_vec())),
            Some((1, _)) => Ok(None),
            Some((_, text)) => Err(Error::Resume {
                path: path.to_path_buf(),
                reason: format!("replica 0: {}", String::from_utf8_lossy(text)),
            }),
            None => Err(Error::Resume {
                path: path.to_path_buf(),
                reason: "replica 0 sent nothing".into(),
            }),
        }
    }

    /// The same trainer, stopping cleanly (checkpoint, then return) at the first step
    /// boundary after `flag` is set. The flag is left set.
    pub fn with_stop_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop_flag = Some(flag);
        self
    }

    /// The same trainer, stopping cleanly on Ctrl-C (installs the handler; see
    /// [`ctrl_c_flag`]).
    pub fn stop_on_ctrl_c(self) -> Result<Self> {
        Ok(self.with_stop_flag(ctrl_c_flag()?))
    }

    /// Restores parameters, buffers, optimiser state, the step, the random stream and the
    /// partial log record from a checkpoint written by a trainer with the same `seed`,
    /// `batch_size` and `shuffle`. The error names the file and the problem: unreadable,
    /// corrupt, not a trainer checkpoint, another configuration (nothing changes in these
    /// cases), or parameters and optimiser state that do not match the model's.
    ///
    /// In a data-parallel run replica 0 reads the file and sends it to the others (the
    /// number of replicas may differ from the run that wrote it).
    pub fn resume(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let fail = |reason: String| Error::Resume {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = self
            .read_on_root(path)?
            .ok_or_else(|| fail("no such file".into()))?;
        let ckpt = checkpoint::from_bytes(&bytes, path, self.store.device())
            .map_err(|e| fail(e.to_string()))?;
        let state = state::read(&ckpt, path)?;
        let (saved, c) = (&state.config, &self.config);
        let mut differences = Vec::new();
        if saved.seed != c.seed {
            differences.push(format!("seed {} (now {})", saved.seed, c.seed));
        }
        if saved.batch_size != c.batch_size {
            differences.push(format!(
                "batch_size {} (now {})",
                saved.batch_size, c.batch_size
            ));
        }
        if saved.shuffle != c.shuffle {
            differences.push(format!("shuffle {} (now {})", saved.shuffle, c.shuffle));
        }
        if !differences.is_empty() {
            return Err(fail(format!(
                "it was written with {}; the data order would differ",
                differences.join(", ")
            )));
        }
        state::restore(ckpt, path, &self.store, &mut self.optimizer)?;
        self.rng = Rng::from_state(&state.rng);
        self.step = state.step;
        self.window = Window::from_state(&state.window);
        self.num_examples = Some(state.num_examples);
        self.last_checkpoint = Some(path.to_path_buf());
        Ok(())
    }

    /// Resumes from `checkpoint_dir/last.safetensors` if it exists (the `--resume` of a
    /// command line); returns whether it did.
    pub fn resume_latest(&mut self) -> Result<bool> {
        let Some(p) = self.config.last_checkpoint_path() else {
            return Ok(false);
        };
        // Whether it exists is replica 0's answer.
        let exists = match self.group() {
            None => p.exists(),
            Some(group) => {
                let mut flag = [if group.rank() == 0 && p.exists() {
                    1.0
                } else {
                    0.0
                }];
                group.allreduce_sum_f64(&mut flag)?;
                flag[0] > 0.0
            }
        };
        if exists {
            self.resume(&p)?;
        }
        Ok(exists)
    }

    /// Trains over a data set of `num_examples` examples until [`TrainerConfig::stop`], from
    /// the current step (0, or where [`Trainer::resume`] left off).
    ///
    /// Each step calls `step(batch, rng)` with the indices of a minibatch and the trainer's
    /// random stream (use it for every draw in the step: relaxed samples, augmentation); the
    /// closure returns the loss and metrics. The trainer then checks the loss and every
    /// gradient for NaN and infinity, clips, updates, logs and checkpoints.
    ///
    /// In a data-parallel run ([`Trainer::with_replicas`]) `batch.indices` is this replica's
    /// shard of the global batch and `rng` draws the whole batch's values for the shard (see
    /// [`Rng::set_shard`]); the step runs inside [`with_replicas`], so batch norm uses the
    /// global batch's statistics. The loss must be a mean over the shard's examples (plus
    /// terms that are the same on every replica) and metrics per-example means; draws other
    /// than batched ones must not depend on the shard.
    ///
    /// ```
    /// use pact::nn::{Linear, ParamStore, Sgd, SgdConfig};
    /// use pact::{DType, Device, Rng, Tensor};
    /// use pact_inference::{StepOutput, Stop, Trainer, TrainerConfig};
    /// // Learn y = 2x from 64 points.
    /// let xs: Vec<f32> = (0..64).map(|i| i as f32 / 64.0).collect();
    /// let store = ParamStore::new(DType::F32, Device::Cpu);
    /// let fc = Linear::new(&store.pp("fc"), 1, 1, &mut Rng::seed(0))?;
    /// let sgd = Sgd::new(store.trainable(), SgdConfig { lr: 0.5, ..Default::default() });
    /// let config = TrainerConfig { batch_size: 16, stop: Stop::Epochs(20), ..Default::default() };
    /// let mut trainer = Trainer::new(config, store, sgd)?;
    /// let summary = trainer.fit(xs.len(), |batch, _rng| {
    ///     let x: Vec<f32> = batch.indices.iter().map(|&i| xs[i]).collect();
    ///     let y: Vec<f32> = x.iter().map(|v| 2.0 * v).collect();
    ///     let n = x.len();
    ///     let x = Tensor::from_f32_vec(x, [n, 1], Device::Cpu)?;
    ///     let y = Tensor::from_f32_vec(y, [n, 1], Device::Cpu)?;
    ///     let loss = fc.forward(&x)?.sub(&y)?.square()?.mean_all()?;
    ///     Ok(StepOutput::new(loss))
    /// })?;
    /// assert_eq!(summary.step, 80);
    /// assert!(summary.records.last().unwrap().loss < 1e-3);
    /// # Ok::<(), pact_inference::Error>(())
    /// ```
    pub fn fit<F>(&mut self, num_examples: usize, mut step: F) -> Result<TrainSummary>
    where
        F: FnMut(&Batch<'_>, &mut Rng) -> Result<StepOutput>,
    {
        if num_examples == 0 {
            return Err(Error::InvalidConfig(
                "fit needs a data set of at least one example".into(),
            ));
        }
        if let Some(n) = self.num_examples.filter(|&n| n != num_examples) {
            return Err(Error::InvalidConfig(format!(
                "the run so far was over {n} examples but fit was given {num_examples}; \
                 the data order would differ"
            )));
        }
        self.num_examples = Some(num_examples);
        let c = self.config.clone();
        let total = c.total_steps(num_examples);
        let first_step = self.step;
        let params = self.store.trainable();
        let group = self.group();
        if let Some(g) = &group {
            replicas::check_batches(g.size(), num_examples, c.batch_size, total)?;
        }
        let root = self.is_root();
        let mut log = match &c.log_path {
            None => None,
            // Replica 0 alone writes the log.
            Some(_) if !root => None,
            Some(p) if first_step == 0 => Some(LogWriter::create(p)?),
            // A record at the resumed step itself is kept only if it closed a full window;
            // a partial one is written again, completed, by this run.
            Some(p) => Some(LogWriter::reopen(p, |s| {
                s < first_step || (s == first_step && s % c.log_every == 0)
            })?),
        };
        let mut order = DataOrder::new(num_examples, c.batch_size, c.shuffle, c.seed);
        let mut progress = Progress::new(c.progress && root, total, first_step);
        let start = Instant::now();
        let mut window_start = start;
        let mut records = Vec::new();
        let mut interrupted = false;
        let mut saved_at = None;
        // In a data-parallel run, whether some replica was asked to stop (agreed each step).
        let mut stop_agreed = false;
        while self.step < total {
            if stop_agreed || (group.is_none() && self.stop_requested()) {
                interrupted = true;
                break;
            }
            let index = self.step;
            let s = index + 1;
            let (epoch, global) = order.batch(index);
            let epoch = epoch + 1;
            let batch_len = global.len();
            let shard = group
                .as_ref()
                .map(|g| Shard::of(batch_len, g.rank(), g.size()));
            let indices = shard.map_or(global, |sh| &global[sh.start..sh.start + sh.len]);
            if let Some(schedule) = &c.schedule {
                self.optimizer.set_learning_rate(schedule.at(index));
            }
            let lr = self.optimizer.learning_rate();
            let batch = Batch {
                indices,
                step: s,
                epoch,
            };
            self.rng.set_shard(shard);
            let out = match &group {
                Some(g) => with_replicas(g, || step(&batch, &mut self.rng)),
                None => step(&batch, &mut self.rng),
            };
            self.rng.set_shard(None);
            let out = out.map_err(|e| self.step_failed(s, e))?;
            for (name, _) in &out.metrics {
                step::check_metric_name(name)?;
            }
            let local_loss = out.loss.to_scalar()?;
            let (loss, metrics, mut grads) = match &group {
                None => {
                    if !local_loss.is_finite() {
                        return Err(self.non_finite(s, "loss".into()));
                    }
                    (local_loss, out.metrics, out.loss.backward()?)
                }
                Some(g) => {
                    let share = indices.len() as f64 / batch_len as f64;
                    let agreed = replicas::agree_on_step(
                        g,
                        local_loss,
                        &out.metrics,
                        share,
                        self.stop_requested(),
                    )?;
                    if !agreed.loss.is_finite() {
                        return Err(self.non_finite(s, "loss".into()));
                    }
                    stop_agreed = agreed.stop;
                    let mut grads = out.loss.mul_scalar(share)?.backward()?;
                    replicas::sum_gradients(g, &mut grads, &params, BUCKET_BYTES)?;
                    (agreed.loss, agreed.metrics, grads)
                }
            };
            let norm = guard::grad_norm(&grads, &params).map_err(|t| self.non_finite(s, t))?;
            if let Some(max) = c.clip_grad_norm {
                clip_grad_norm(&mut grads, &params, max)?;
            }
            self.optimizer.step(&grads)?;
            self.step = s;
            self.window.add(loss, norm, &metrics, batch_len);
            let accuracy = metrics.iter().find(|(n, _)| n == "accuracy");
            progress.step(epoch, loss, accuracy.map(|a| a.1), batch_len);

            let full_window = s % c.log_every == 0;
            if full_window || s == total {
                let now = Instant::now();
                let seconds = (now - window_start).as_secs_f64();
                let mut record = self.window.record(s, epoch, lr, seconds);
                record.elapsed_s = (now - start).as_secs_f64();
                if let Some(log) = &mut log {
                    log.write(&record)?;
                }
                records.push(record);
                // A partial window stays open (and in the checkpoint), so that extending
                // the run later gives the same records as one long run.
                if full_window {
                    self.window = Window::default();
                    window_start = now;
                }
            }
            if c.checkpoint_every.is_some_and(|k| s % k == 0) {
                self.save_to_dir()?;
                saved_at = Some(s);
            }
        }
        if c.checkpoint_dir.is_some() && self.step != first_step && saved_at != Some(self.step) {
            self.save_to_dir()?;
        }
        progress.finish();
        Ok(TrainSummary {
            step: self.step,
            interrupted,
            records,
            last_checkpoint: self.last_checkpoint.clone(),
            elapsed: start.elapsed(),
        })
    }

    fn stop_requested(&self) -> bool {
        self.stop_flag
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
    }

    fn step_failed(&self, step: u64, source: Error) -> Error {
        Error::StepFailed {
            step,
            source: Box::new(source),
            last_checkpoint: self.last_checkpoint.clone(),
        }
    }

    fn non_finite(&self, step: u64, tensor: String) -> Error {
        Error::NonFinite {
            step,
            tensor,
            last_checkpoint: self.last_checkpoint.clone(),
        }
    }

    /// Writes `step-N.safetensors` (if kept) and `last.safetensors` in the checkpoint
    /// directory (replica 0 of a data-parallel run, after checking that every replica holds
    /// the same parameters).
    fn save_to_dir(&mut self) -> Result<()> {
        let Some(dir) = self.config.checkpoint_dir.clone() else {
            return Ok(());
        };
        if let Some(group) = self.group() {
            replicas::check_in_step(&group, &self.store, self.step)?;
        }
        let last = dir.join("last.safetensors");
        if !self.is_root() {
            self.last_checkpoint = Some(last);
            return Ok(());
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let state = TrainerState::new(
            self.step,
            self.num_examples.unwrap_or(0),
            self.rng.state(),
            self.window.state(),
            self.config.clone(),
        );
        if self.config.keep_step_checkpoints {
            let path = dir.join(format!("step-{:08}.safetensors", self.step));
            state::save(&path, &self.store, &self.optimizer, &state, &self.metadata)?;
        }
        state::save(&last, &self.store, &self.optimizer, &state, &self.metadata)?;
        self.last_checkpoint = Some(last);
        Ok(())
    }

    /// Adds string metadata (for example a description of the model) to every checkpoint
    /// this trainer writes.
    pub fn with_metadata(mut self, metadata: BTreeMap<String, String>) -> Self {
        self.metadata.extend(metadata);
        self
    }

    /// Steps completed so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The configuration.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// The parameters being trained.
    pub fn store(&self) -> &ParamStore {
        &self.store
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }

    /// The random stream handed to the training step, at its current position.
    pub fn rng(&self) -> &Rng {
        &self.rng
    }

    /// The last checkpoint written or resumed from.
    pub fn last_checkpoint(&self) -> Option<&Path> {
        self.last_checkpoint.as_deref()
    }
}
