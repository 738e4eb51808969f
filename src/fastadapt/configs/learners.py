"""One typed configuration per learner: the keys a run's configuration may set for that method, with their types
and defaults, and how the learner is built from them. This is the one place a learner's settings are read; the
learners themselves take plain constructor arguments. The data decide the rest (`TaskShape`): the task type, the
class counts, the image encoder's input, the RL task family."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from torch import nn

from ..learners import METHODS, EncoderLearner, Learner
from ..learners.gradient import INNER_LR
from ..learners.icl import MLPEmbed
from ..learners.maml_rl import check_positive
from ..learners.reptile import REPTILE_INNER_LR
from ..nn.backbones import BackboneSpec
from ..nn.episodic import CROP_WEIGHT, fastest_precision, resolve_device
from ..registry import Registry
from ..rl.policies import MLPPolicy
from ..tasks import task_type
from ..tasks.rl_envs import family_from_config
from .typed import ConfigError, from_dict

LEARNER_CONFIGS = Registry("method")  # method name -> its configuration dataclass


# BackboneSpec's fields under their configuration keys (the others are named alike: hidden, image_size, drop_block)
BACKBONE_KEYS = {"name": "backbone", "in_channels": "channels", "mean": "input_mean", "std": "input_std"}


def backbone_spec(cfg: dict[str, Any]) -> BackboneSpec:
    """The image encoder a run's configuration asks for (``backbone=conv4|resnet12|efficientnet_lite0``), for its
    images (``channels``, ``image_size``, ``input_mean`` / ``input_std``: none means no standardization)."""
    spec = from_dict(BackboneSpec, cfg, keys=BACKBONE_KEYS)
    return replace(spec, mean=spec.mean or None, std=spec.std or None)


@dataclass(frozen=True)
class TaskConfig:
    """The keys of the data a learner is sized by."""

    dataset: str = "omniglot"
    ways: int | None = 5
    train_ways: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class TaskShape:
    """What the data fix about a learner: task type (classification / regression / rl), class counts (``ways`` at
    test, ``train_ways`` in training), the image encoder, the random seed, and the run's whole configuration for
    the task families that build themselves from it (meta-RL)."""

    task_type: str
    ways: int | None
    train_ways: int | None
    backbone: BackboneSpec
    seed: int
    max_ways: int  # the larger class count of training and test episodes (sequence learners' label inputs)
    cfg: dict[str, Any]

    def rl_family(self) -> Any:
        return family_from_config(self.cfg)


def task_shape(cfg: dict[str, Any]) -> TaskShape:
    """The `TaskShape` of a run's configuration."""
    task = from_dict(TaskConfig, cfg)
    train_ways = task.train_ways if task.train_ways is not None else task.ways
    max_ways = max(5 if task.ways is None else task.ways, 5 if task.train_ways is None else task.train_ways)
    backbone = backbone_spec(cfg)
    return TaskShape(task_type(task.dataset), task.ways, train_ways, backbone, task.seed, max_ways, dict(cfg))


# ---- metric-based ---------------------------------------------------------------------------------------------------
@LEARNER_CONFIGS.register("protonet")
@dataclass(frozen=True)
class ProtoNetConfig:
    """Prototypical Networks (Snell 2017): distance, power transform (Hu 2021), fitted head, soft k-means (Ren 2018)."""

    distance: str = "euclidean"
    cosine_scale: float = 10.0
    learn_scale: bool = False
    feature_transform: str = ""
    head_steps: int = 0
    transductive_steps: int = 0
    transductive_temperature: float = 1.0

    def build(self, shape: TaskShape) -> Learner:
        return METHODS["protonet"](
            shape.backbone.build(),
            distance=self.distance,
            scale=self.cosine_scale,
            learn_scale=self.learn_scale,
            feature_transform=self.feature_transform,
            head_steps=self.head_steps,
            transductive_steps=self.transductive_steps,
            transductive_temperature=self.transductive_temperature,
        )


@LEARNER_CONFIGS.register("matching")
@dataclass(frozen=True)
class MatchingConfig:
    """Matching Networks (Vinyals 2016): full-context embeddings and the cosine attention's scale."""

    fce: bool = False
    fce_steps: int = 5
    cosine_scale: float = 10.0
    learn_scale: bool = True

    def build(self, shape: TaskShape) -> Learner:
        spec = shape.backbone
        return METHODS["matching"](
            spec.build(),
            features=spec.features,
            fce=self.fce,
            fce_steps=self.fce_steps,
            scale=self.cosine_scale,
            learn_scale=self.learn_scale,
        )


@LEARNER_CONFIGS.register("relation")
@dataclass(frozen=True)
class RelationConfig:
    """Relation Network (Sung 2018): the relation module's width and how its scores become probabilities."""

    relation_hidden: int = 8
    relation_probs: str = "odds"

    def build(self, shape: TaskShape) -> Learner:
        spec = shape.backbone
        if spec.name != "conv4":
            raise ConfigError(
                f"The Relation Network compares feature maps of its own 4-block embedding (Sung 2018); "
                f"backbone={spec.name!r} is not offered for it. Leave backbone at 'conv4'."
            )
        return METHODS["relation"](
            spec.in_channels,
            spec.hidden,
            spec.image_size,
            self.relation_hidden,
            self.relation_probs,
            spec.mean,
            spec.std,
        )


@LEARNER_CONFIGS.register("siamese")
@dataclass(frozen=True)
class SiameseConfig:
    """Siamese network (Koch 2015): same/different pairs drawn per example."""

    siamese_pairs: int = 1

    def build(self, shape: TaskShape) -> Learner:
        spec = shape.backbone
        return METHODS["siamese"](
            spec.build(), features=spec.features, pairs_per_example=self.siamese_pairs, seed=shape.seed
        )


@LEARNER_CONFIGS.register("baseline")
@dataclass(frozen=True)
class BaselineConfig:
    """The pre-training baseline (Chen 2019; Tian 2020): classes, training head, test-time head."""

    baseline_classes: int | None = None  # None: the training episodes' class count
    baseline_head: str = "linear"
    baseline_test_head: str = "prototype"
    baseline_scale: float = 10.0

    def build(self, shape: TaskShape) -> Learner:
        spec = shape.backbone
        classes = self.baseline_classes if self.baseline_classes is not None else shape.train_ways
        return METHODS["baseline"](
            spec.build(), spec.features, classes, self.baseline_head, self.baseline_test_head, self.baseline_scale
        )


@LEARNER_CONFIGS.register("protonet-frozen")
@dataclass(frozen=True)
class FrozenTextProtoNetConfig:
    """ProtoNet over frozen sentence embeddings (CLINC150): the cosine scale."""

    proto_scale: float = 10.0

    def build(self, shape: TaskShape) -> Learner:
        return METHODS["protonet-frozen"](self.proto_scale)


@LEARNER_CONFIGS.register("protonet-finetune")
@dataclass(frozen=True)
class FinetunedTextProtoNetConfig:
    """ProtoNet fine-tuning the sentence encoder's top layers (CLINC150)."""

    finetune_layers: int = 2
    proto_scale: float = 10.0

    def build(self, shape: TaskShape) -> Learner:
        return METHODS["protonet-finetune"](finetune_layers=self.finetune_layers, scale=self.proto_scale)


# ---- optimization-based ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradientConfig:
    """Settings shared by the gradient-based learners (`fastadapt.learners.gradient.GradientLearner`)."""

    default_inner_lr: ClassVar[float] = INNER_LR
    inner_lr: float | None = None  # None: the method's own default
    inner_steps: int = 1
    test_inner_steps: int | None = None
    bn: str = "transductive"
    batching: str = "auto"
    task_chunk: int | None = None  # None or 0: the whole meta-batch at once
    mlp_hidden: int = 40

    def common(self, shape: TaskShape) -> dict[str, Any]:
        return dict(
            inner_lr=self.default_inner_lr if self.inner_lr is None else self.inner_lr,
            inner_steps=self.inner_steps,
            test_inner_steps=self.test_inner_steps,
            bn=self.bn,
            batching=self.batching,
            task_chunk=self.task_chunk or None,
            task_type=shape.task_type,
        )

    def network(self, shape: TaskShape) -> nn.Module:
        """Finn's 40-40 ReLU MLP for 1-d regression, the configured backbone and a linear head for classes."""
        if shape.task_type == "regression":
            h = self.mlp_hidden
            return nn.Sequential(nn.Linear(1, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 1))
        if shape.ways is None:
            raise ConfigError("A gradient-based classifier needs ways (its output layer's size); set --set ways=5.")
        spec = shape.backbone
        return nn.Sequential(spec.build(), nn.Linear(spec.features, shape.ways))


@LEARNER_CONFIGS.register("maml")
@dataclass(frozen=True)
class MAMLConfig(GradientConfig):
    """MAML (Finn 2017) and the MAML++ options (Antoniou 2019)."""

    first_order: bool = False
    lr_mode: str = "fixed"
    multi_step_loss: bool = False
    msl_anneal: int = 10000

    method: ClassVar[str] = "maml"

    def build(self, shape: TaskShape) -> Learner:
        return METHODS[self.method](
            self.network(shape),
            first_order=self.first_order,
            lr_mode=self.lr_mode,
            multi_step_loss=self.multi_step_loss,
            msl_anneal=self.msl_anneal,
            **self.common(shape),
        )


@LEARNER_CONFIGS.register("fomaml")
@dataclass(frozen=True)
class FOMAMLConfig(MAMLConfig):
    """First-order MAML (Finn 2017, section 5.2)."""

    method: ClassVar[str] = "fomaml"


@LEARNER_CONFIGS.register("metasgd")
@dataclass(frozen=True)
class MetaSGDConfig(GradientConfig):
    """Meta-SGD (Li 2017): a learned rate per parameter entry."""

    first_order: bool = False
    method: ClassVar[str] = "metasgd"

    def build(self, shape: TaskShape) -> Learner:
        return METHODS[self.method](self.network(shape), first_order=self.first_order, **self.common(shape))


@LEARNER_CONFIGS.register("anil")
@dataclass(frozen=True)
class ANILConfig(MetaSGDConfig):
    """ANIL (Raghu 2020): only the head adapts in the inner loop."""

    method: ClassVar[str] = "anil"


@LEARNER_CONFIGS.register("reptile")
@dataclass(frozen=True)
class ReptileConfig(GradientConfig):
    """Reptile (Nichol 2018): its own default inner rate, 0.1."""

    default_inner_lr: ClassVar[float] = REPTILE_INNER_LR

    def build(self, shape: TaskShape) -> Learner:
        return METHODS["reptile"](self.network(shape), **self.common(shape))


# ---- black-box, model-based, in-context -----------------------------------------------------------------------------
@LEARNER_CONFIGS.register("hypernet")
@dataclass(frozen=True)
class HyperNetConfig:
    """A hypernetwork that emits the classifier's weights from the support set."""

    hyper_hidden: int = 256
    hyper_rank: int = 0

    def build(self, shape: TaskShape) -> Learner:
        spec = shape.backbone
        return METHODS["hypernet"](spec.build(), dim=spec.features, set_hidden=self.hyper_hidden, rank=self.hyper_rank)


@LEARNER_CONFIGS.register("lstm")
@dataclass(frozen=True)
class LSTMConfig:
    """The recurrent (LSTM) meta-learner reading the support set as a sequence."""

    lstm_embed: int = 64
    lstm_hidden: int = 256
    lstm_max_ways: int | None = None  # None: the larger of ways and train_ways
    lstm_shuffle: bool = True
    lstm_binding: str = "outer"
    lstm_lr_scale: float = 1.0
    lstm_readout: str = "dot"

    def build(self, shape: TaskShape) -> Learner:
        spec = shape.backbone
        return METHODS["lstm"](
            spec.build(),
            feat=spec.features,
            embed=self.lstm_embed,
            hidden=self.lstm_hidden,
            max_ways=self.lstm_max_ways or shape.max_ways,
            shuffle_support=self.lstm_shuffle,
            binding=self.lstm_binding,
            recurrent_lr_scale=self.lstm_lr_scale,
            readout=self.lstm_readout,
        )


@LEARNER_CONFIGS.register("mann")
@dataclass(frozen=True)
class MANNConfig:
    """Memory-augmented network (Santoro 2016): controller, memory and its addressing."""

    mann_max_ways: int | None = None  # None: the larger of ways and train_ways
    mann_encoder: str = "pixels"
    mann_controller: int = 200
    mann_slots: int = 128
    mann_width: int = 40
    mann_heads: int = 4
    mann_gamma: float = 0.95
    mann_write: str = "add"
    mann_erase: str = "heads"
    mann_shift: int = 0
    mann_rotate: float = 0.0
    mann_freeze_encoder: bool = False

    def build(self, shape: TaskShape) -> Learner:
        spec = shape.backbone
        return METHODS["mann"](
            image_size=spec.image_size,
            channels=spec.in_channels,
            max_ways=self.mann_max_ways or shape.max_ways,
            encoder=self.mann_encoder,
            controller=self.mann_controller,
            slots=self.mann_slots,
            width=self.mann_width,
            heads=self.mann_heads,
            gamma=self.mann_gamma,
            hidden=spec.hidden,
            write=self.mann_write,
            erase=self.mann_erase,
            shift=self.mann_shift,
            rotate=self.mann_rotate,
            freeze_encoder=self.mann_freeze_encoder,
        )


@LEARNER_CONFIGS.register("icl")
@dataclass(frozen=True)
class ICLConfig:
    """In-context transformer (Garg 2022; Kirsch 2022): embedder, width, depth, label codes."""

    icl_embedder: str = "conv4"  # conv4 / backbone (images), mlp (vectors), minilm (token ids)
    input_dim: int | None = None  # vector inputs (icl_embedder=mlp)
    icl_dim: int = 128
    icl_embed_layers: int = 1
    icl_max_ways: int | None = None  # None: ways
    icl_layers: int = 4
    icl_heads: int = 4
    icl_dropout: float = 0.0
    icl_prefix_loss: bool | None = None  # None: on for regression
    icl_permute: bool = True
    icl_rotate: bool = False
    icl_label_dim: int = 0
    icl_init: str = "default"
    icl_nn_scale: float = 10.0
    finetune_layers: int = 2  # icl_embedder=minilm: the sentence encoder's top layers trained

    def embedder(self, shape: TaskShape) -> tuple[nn.Module, int]:
        if self.icl_embedder in ("conv4", "backbone"):  # "backbone": the config's image backbone (conv4 by default)
            return shape.backbone.build(), shape.backbone.features
        if self.icl_embedder == "mlp":
            if self.input_dim is None:
                raise ConfigError("icl_embedder=mlp embeds vectors of length input_dim; set --set input_dim=N.")
            embedder = MLPEmbed(self.input_dim, self.icl_dim, self.icl_embed_layers)
            return embedder, embedder.out_dim
        if self.icl_embedder == "minilm":  # token ids in; the encoder's top layers train with the transformer
            from ..text.encoder import SentenceEncoder

            if self.icl_rotate:
                raise ConfigError(
                    "icl_rotate rotates vector inputs; it does not apply to token ids "
                    "(icl_embedder='minilm'). Set icl_rotate=false."
                )
            embedder = SentenceEncoder(trainable_layers=self.finetune_layers)
            return embedder, embedder.dim
        raise ConfigError(
            f"icl_embedder must be 'conv4' (images), 'mlp' (vectors) or 'minilm' (token ids), "
            f"got {self.icl_embedder!r}."
        )

    def build(self, shape: TaskShape) -> Learner:
        embedder, feat = self.embedder(shape)
        regression = shape.task_type == "regression"
        return METHODS["icl"](
            embedder,
            feat,
            max_ways=0 if regression else (self.icl_max_ways or shape.ways),
            dim=self.icl_dim,
            layers=self.icl_layers,
            heads=self.icl_heads,
            dropout=self.icl_dropout,
            prefix_loss=regression if self.icl_prefix_loss is None else self.icl_prefix_loss,
            permute=self.icl_permute,
            rotate=self.icl_rotate,
            label_dim=self.icl_label_dim,
            init=self.icl_init,
            nn_scale=self.icl_nn_scale,
        )


@LEARNER_CONFIGS.register("metaicl")
@dataclass(frozen=True)
class MetaICLConfig:
    """MetaICL (Min 2022) over a local Hugging Face causal LM."""

    model_path: str = ""
    metaicl_method: str = "direct"
    max_example_tokens: int = 256

    def build(self, shape: TaskShape) -> Learner:
        from ..text.metaicl import load_causal_lm

        if not self.model_path:
            raise ConfigError(
                "MetaICL needs a local Hugging Face causal LM: --set model_path=FOLDER "
                "(benchmarks/metaicl.py writes a tiny GPT-2 you can use)."
            )
        model, tok = load_causal_lm(self.model_path)
        return METHODS["metaicl"](model, tok, self.metaicl_method, self.max_example_tokens)


# ---- Bayesian / amortized -------------------------------------------------------------------------------------------
@LEARNER_CONFIGS.register("versa")
@dataclass(frozen=True)
class VersaConfig:
    """VERSA (Gordon 2019): amortized weight posterior, Monte Carlo samples."""

    versa_hidden: int = 256
    versa_samples: int = 10
    versa_eval_samples: int = 100
    versa_prototype_init: bool = True

    def build(self, shape: TaskShape) -> Learner:
        spec = shape.backbone
        return METHODS["versa"](
            spec.build(),
            spec.features,
            self.versa_hidden,
            self.versa_samples,
            self.versa_eval_samples,
            prototype_init=self.versa_prototype_init,
        )


@LEARNER_CONFIGS.register("cnp")
@dataclass(frozen=True)
class CNPConfig:
    """Conditional Neural Process (Garnelo 2018a)."""

    x_dim: int = 1
    y_dim: int = 1
    np_hidden: int = 128
    np_encoder_layers: int = 4
    np_decoder_layers: int = 2
    train_on_context: bool = True
    np_min_std: float = 0.1

    def build(self, shape: TaskShape) -> Learner:
        return METHODS["cnp"](
            self.x_dim,
            self.y_dim,
            self.np_hidden,
            self.np_encoder_layers,
            self.np_decoder_layers,
            train_on_context=self.train_on_context,
            min_std=self.np_min_std,
        )


@LEARNER_CONFIGS.register("np")
@dataclass(frozen=True)
class NeuralProcessConfig:
    """Neural Process (Garnelo 2018b), attentive option (Kim 2019)."""

    x_dim: int = 1
    y_dim: int = 1
    np_hidden: int = 128
    np_latent: int = 128
    np_encoder_layers: int = 3
    np_decoder_layers: int = 2
    np_samples: int = 32
    train_on_context: bool = True
    np_deterministic_path: bool = True
    np_min_std: float = 0.1
    np_attention: bool = False
    np_heads: int = 8
    np_train_samples: int = 1

    def build(self, shape: TaskShape) -> Learner:
        return METHODS["np"](
            self.x_dim,
            self.y_dim,
            self.np_hidden,
            self.np_latent,
            self.np_encoder_layers,
            self.np_decoder_layers,
            samples=self.np_samples,
            train_on_context=self.train_on_context,
            deterministic_path=self.np_deterministic_path,
            min_std=self.np_min_std,
            attention=self.np_attention,
            heads=self.np_heads,
            train_samples=self.np_train_samples,
        )


# ---- meta-RL --------------------------------------------------------------------------------------------------------
@LEARNER_CONFIGS.register("maml-rl")
@dataclass(frozen=True)
class MAMLRLConfig:
    """MAML on policies (Finn 2017) with a clipped outer objective (ProMP, Rothfuss 2019)."""

    hidden: int = 100
    policy_layers: int = 2
    init_std: float = 1.0
    inner_lr: float = 0.1
    inner_steps: int = 1
    later_inner_lr: float | None = None
    first_order: bool = False
    clip_eps: float = 0.3
    kl_coef: float = 5e-4
    gamma: float = 0.99
    gae_lambda: float = 1.0
    eval_steps: int = 3

    def build(self, shape: TaskShape) -> Learner:
        family = shape.rl_family()
        check_positive("hidden", self.hidden, integer=True)
        check_positive("policy_layers", self.policy_layers, integer=True, zero=True)
        policy = MLPPolicy(
            family.obs_dim,
            family.act_dim,
            (self.hidden,) * self.policy_layers,
            family.discrete,
            init_std=self.init_std,
        )
        return METHODS["maml-rl"](
            policy,
            inner_lr=self.inner_lr,
            inner_steps=self.inner_steps,
            later_inner_lr=self.later_inner_lr,
            first_order=self.first_order,
            clip_eps=self.clip_eps,
            kl_coef=self.kl_coef,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            eval_steps=self.eval_steps,
        )


@LEARNER_CONFIGS.register("rl2")
@dataclass(frozen=True)
class RL2Config:
    """RL^2 (Duan 2016): a recurrent policy over several episodes of a task, trained with PPO."""

    hidden: int = 128
    rl2_episodes: int = 3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    init_std: float = 1.0
    reward_scale: float = 1.0
    reward_input_scale: float | None = None

    def build(self, shape: TaskShape) -> Learner:
        family = shape.rl_family()
        return METHODS["rl2"](
            family.obs_dim,
            family.act_dim,
            family.discrete,
            hidden=self.hidden,
            episodes=self.rl2_episodes,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            clip_eps=self.clip_eps,
            vf_coef=self.vf_coef,
            ent_coef=self.ent_coef,
            init_std=self.init_std,
            reward_scale=self.reward_scale,
            reward_input_scale=self.reward_input_scale,
        )


# ---- the learner of a run -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LearnerOptions:
    """Settings every learner takes after it is built (see `Learner.set_eval_bn`, `Learner.set_precision`,
    `EncoderLearner.configure_encoder`)."""

    method: str = "protonet"
    eval_bn: str = "running"
    precision: str = "fp32"
    freeze_encoder: bool = False
    tta_flip: bool = False
    tta_crop: int = 0
    tta_crop_weight: float = CROP_WEIGHT


def learner_config(cfg: dict[str, Any]) -> Any:
    """The typed configuration of the learner ``cfg["method"]`` names, checked against its field types."""
    return from_dict(LEARNER_CONFIGS.get_or_raise(from_dict(LearnerOptions, cfg).method), cfg)


def build_learner(cfg: dict[str, Any]) -> Learner:
    """The learner a run's configuration describes: its typed configuration built for the data's `TaskShape`,
    then the settings every learner takes (``eval_bn``, ``precision``, ``freeze_encoder`` / ``tta_flip`` /
    ``tta_crop``)."""
    options = from_dict(LearnerOptions, cfg)
    shape = task_shape(cfg)
    learner = learner_config(cfg).build(shape)
    learner.set_eval_bn(options.eval_bn)
    precision = options.precision
    if precision == "auto":  # the trainer resolves it for its device first; elsewhere, for the configured device
        precision = fastest_precision(resolve_device(cfg.get("device", "auto")), learner.supports_precision)
    learner.set_precision(precision)
    if options.freeze_encoder or options.tta_flip or options.tta_crop:
        if not isinstance(learner, EncoderLearner):
            raise ConfigError(
                f"freeze_encoder / tta_flip / tta_crop apply to learners over an image encoder (EncoderLearner); "
                f"{type(learner).__name__} is not one. Leave them false (tta_crop 0)."
            )
        if options.tta_crop and not 0 < options.tta_crop < shape.backbone.image_size:
            raise ConfigError(
                f"tta_crop is the side of the five test-time crops in pixels, between 1 and "
                f"{shape.backbone.image_size - 1} for image_size={shape.backbone.image_size}; got {options.tta_crop}."
            )
        try:
            learner.configure_encoder(
                options.freeze_encoder, options.tta_flip, options.tta_crop, options.tta_crop_weight
            )
        except ValueError as e:
            raise ConfigError(str(e)) from None
    if any(isinstance(m, nn.Conv2d) for m in learner.modules()):  # an image model: adapt / predict check shapes
        spec = shape.backbone
        learner.input_shape = (spec.in_channels, spec.image_size, spec.image_size)
    return learner
