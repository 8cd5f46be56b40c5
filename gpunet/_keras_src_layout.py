"""Keras 3.15's internal module layout (keras/src, without tests): the paths `keras.src.*` may name under
`gpunet.install_as_keras()`. A path Keras does not have is refused with an ImportError, as Keras refuses it; a path
Keras has resolves to what plays its part in gpunet (keras_alias.py). Each line is a package, ".", then its
modules; tests/test_keras_alias.py regenerates it from the installed Keras of the same version."""

KERAS_VERSION = "3.15.1"

LAYOUT = """
.: activations api_export applications backend callbacks constraints datasets distillation distribution
    dtype_policies export initializers layers legacy losses metrics models ops optimizers quantizers random
    regularizers saving testing trainers tree utils version visualization wrappers
activations: activations
applications: convnext densenet efficientnet efficientnet_v2 imagenet_utils inception_resnet_v2 inception_v3
    mobilenet mobilenet_v2 mobilenet_v3 nasnet resnet resnet_v2 vgg16 vgg19 xception
backend: common config jax numpy openvino tensorflow torch
backend.common: backend_utils dtypes global_state keras_tensor masking name_scope remat stateless_scope
    symbolic_scope tensor_attributes variables
backend.jax: core distribution_lib export image layer linalg math nn numpy optimizer random rnn sparse tensorboard
    trainer
backend.numpy: core export image layer linalg math nn numpy random rnn trainer
backend.openvino: core export image layer linalg math nn numpy random rnn trainer
backend.tensorflow: core distribution_lib export image layer linalg math nn numpy optimizer random rnn sparse
    tensorboard trackable trainer
backend.torch: core export image layer linalg math nn numpy optimizers random rnn trainer
backend.torch.optimizers: torch_adadelta torch_adagrad torch_adam torch_adamax torch_adamw torch_lion torch_nadam
    torch_optimizer torch_parallel_optimizer torch_rmsprop torch_sgd
callbacks: backup_and_restore callback callback_list csv_logger early_stopping history lambda_callback
    learning_rate_scheduler model_checkpoint monitor_callback orbax_checkpoint progbar_logger reduce_lr_on_plateau
    remote_monitor swap_ema_weights tensorboard terminate_on_nan
constraints: constraints
datasets: boston_housing california_housing cifar cifar10 cifar100 fashion_mnist imdb mnist npz_utils reuters
distillation: distillation_loss distiller
distribution: distribution_lib
dtype_policies: dtype_policy dtype_policy_map
export: export_utils litert neptune_model_export_archive onnx openvino saved_model saved_model_export_archive
    tf2onnx_lib tfsm_layer torch
initializers: constant_initializers initializer random_initializers
layers: activations attention convolutional core input_spec layer merging normalization pooling preprocessing
    regularization reshaping rnn
layers.activations: activation elu leaky_relu prelu relu softmax
layers.attention: additive_attention attention grouped_query_attention multi_head_attention
layers.convolutional: base_conv base_conv_transpose base_depthwise_conv base_separable_conv conv1d conv1d_transpose
    conv2d conv2d_transpose conv3d conv3d_transpose depthwise_conv1d depthwise_conv2d separable_conv1d
    separable_conv2d
layers.core: dense einsum_dense embedding identity input_layer lambda_layer masking reversible_embedding wrapper
layers.merging: add average base_merge concatenate dot maximum minimum multiply subtract
layers.normalization: batch_normalization group_normalization layer_normalization rms_normalization
    spectral_normalization unit_normalization
layers.pooling: adaptive_average_pooling1d adaptive_average_pooling2d adaptive_average_pooling3d
    adaptive_max_pooling1d adaptive_max_pooling2d adaptive_max_pooling3d average_pooling1d average_pooling2d
    average_pooling3d base_adaptive_pooling base_global_pooling base_pooling global_average_pooling1d
    global_average_pooling2d global_average_pooling3d global_max_pooling1d global_max_pooling2d global_max_pooling3d
    max_pooling1d max_pooling2d max_pooling3d
layers.preprocessing: category_encoding data_layer discretization feature_space hashed_crossing hashing
    image_preprocessing index_lookup integer_lookup mel_spectrogram normalization pipeline rescaling
    stft_spectrogram string_lookup text_vectorization
layers.preprocessing.image_preprocessing: aug_mix auto_contrast base_image_preprocessing_layer bounding_boxes
    center_crop clahe cut_mix equalization max_num_bounding_box mix_up rand_augment random_brightness
    random_color_degeneration random_color_jitter random_contrast random_crop random_elastic_transform
    random_erasing random_flip random_gaussian_blur random_grayscale random_hue random_invert random_perspective
    random_posterization random_rotation random_saturation random_sharpness random_shear random_translation
    random_zoom resizing solarization
layers.preprocessing.image_preprocessing.bounding_boxes: bounding_box converters formats iou validation
layers.regularization: activity_regularization alpha_dropout dropout gaussian_dropout gaussian_noise spatial_dropout
layers.reshaping: cropping1d cropping2d cropping3d flatten permute repeat_vector reshape up_sampling1d up_sampling2d
    up_sampling3d zero_padding1d zero_padding2d zero_padding3d
layers.rnn: bidirectional conv_lstm conv_lstm1d conv_lstm2d conv_lstm3d dropout_rnn_cell gru lstm rnn simple_rnn
    stacked_rnn_cells time_distributed
legacy: backend layers losses preprocessing saving
legacy.preprocessing: image sequence text
legacy.saving: json_utils legacy_h5_format saving_options saving_utils serialization
losses: loss losses
metrics: accuracy_metrics confusion_metrics correlation_metrics f_score_metrics hinge_metrics iou_metrics metric
    metrics_utils probabilistic_metrics reduction_metrics regression_metrics
models: cloning functional model sequential variable_mapping
ops: core einops function image linalg math nn node numpy operation operation_utils symbolic_arguments
optimizers: adadelta adafactor adagrad adam adamax adamw base_optimizer ftrl lamb lion loss_scale_optimizer
    multi_optimizer muon nadam optimizer rmsprop schedule_free_adamw schedules sgd
optimizers.schedules: learning_rate_schedule
quantizers: awq awq_config awq_core gptq gptq_config gptq_core quantization_config quantizers utils
random: random seed_generator
regularizers: regularizers
saving: file_editor keras_saveable object_registration orbax_util saving_api saving_lib serialization_lib
testing: test_case test_utils
trainers: compile_utils data_adapters epoch_iterator trainer
trainers.data_adapters: array_data_adapter array_slicing data_adapter data_adapter_utils generator_data_adapter
    grain_dataset_adapter py_dataset_adapter tf_dataset_adapter torch_data_loader_adapter
tree: dmtree_impl optree_impl torchtree_impl tree_api
utils: argument_validation audio_dataset_utils backend_utils code_stats config dataset_utils dtype_utils file_utils
    grain_utils image_dataset_utils image_utils io_utils jax_layer jax_utils model_visualization module_utils naming
    numerical_utils progbar python_utils rng_utils sequence_utils summary_utils text_dataset_utils tf_utils
    timeseries_dataset_utils torch_utils traceback_utils tracking
visualization: draw_bounding_boxes draw_segmentation_masks plot_bounding_box_gallery plot_image_gallery
    plot_segmentation_mask_gallery
wrappers: fixes sklearn_wrapper utils
"""


def paths(text=LAYOUT):
    """Every module path the layout lists ("layers.core.dense", ...), packages included."""
    out = set()
    for line in text.replace("\n    ", " ").strip().splitlines():
        package, _, modules = line.partition(":")
        package = "" if package.strip() == "." else package.strip()
        if package:
            out.add(package)
        out.update((package + "." + m) if package else m for m in modules.split())
    return out


def format_layout(all_paths):
    """The LAYOUT text for a set of paths (what the test compares with the installed Keras)."""
    import textwrap
    packages = {}
    for p in sorted(all_paths):
        parent, _, leaf = p.rpartition(".")
        packages.setdefault(parent, []).append(leaf)
    lines = []
    for parent in sorted(packages):
        lines.extend(textwrap.wrap((parent or ".") + ": " + " ".join(sorted(packages[parent])), 116,
                                   subsequent_indent="    ", break_long_words=False, break_on_hyphens=False))
    return "\n" + "\n".join(lines) + "\n"
