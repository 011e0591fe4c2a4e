"""The rule both code generators follow for which block instances share code (cnndsl/backends/blocks.py)."""

import ast

from cnndsl import expr
from cnndsl.backends.blocks import Step, defaults, flag_name, last_reads, parameters_used, share, unparse


def basic_block(projection: bool, stride_conv: str = "conv") -> list[Step]:
    """A ResNet BasicBlock as Keras describes it: a projection's steps are optional."""
    steps = [
        Step("conv1", stride_conv, ("",)),
        Step("conv2", "conv", ("conv1",)),
    ]
    if projection:
        steps += [
            Step("downsample.0", "conv", ("",), optional=True),
            Step("downsample.1", "batchnorm", ("downsample.0",), optional=True),
        ]
    return [*steps, Step("add", "add", ("conv2", "downsample.1" if projection else ""))]


def test_instances_with_and_without_a_projection_share_code_and_the_projection_is_optional():
    groups = share([(None, basic_block(True)), (None, basic_block(False)), (None, basic_block(False))])
    assert [g.members for g in groups] == [[0, 1, 2]]
    (g,) = groups
    assert g.optional == ["downsample.0", "downsample.1"]
    assert [s.name for s in g.steps] == ["conv1", "conv2", "downsample.0", "downsample.1", "add"]
    assert g.steps[-1].inputs == ("conv2", "downsample.1")  # the add reads the projection where there is one


def test_an_instance_first_without_a_projection_still_reads_it_where_it_runs():
    (g,) = share([(None, basic_block(False)), (None, basic_block(True))])
    assert g.steps[-1].inputs == ("conv2", "downsample.1")


def test_instances_that_differ_in_a_step_that_is_not_optional_get_code_of_their_own():
    groups = share([(None, basic_block(False)), (None, basic_block(False, "pool")), (None, basic_block(True))])
    assert [g.members for g in groups] == [[0, 2], [1]]
    assert groups[1].optional == []


def test_a_skipped_step_must_be_optional_and_the_key_must_agree():
    plain = basic_block(False)
    longer = [*plain, Step("relu", "activation", ("add",))]
    assert [g.members for g in share([(None, plain), (None, longer)])] == [[0], [1]]
    assert [g.members for g in share([("a", plain), ("b", plain), ("a", plain)])] == [[0, 2], [1]]


def test_parameters_used_follow_defaults_all_the_way():
    defaults = {"padding": ast.parse("dilation * 2", mode="eval"), "dilation": ast.parse("kernel", mode="eval")}
    assert parameters_used({"padding"}, defaults) == {"padding", "dilation", "kernel"}
    assert parameters_used({"kernel"}, defaults) == {"kernel"}


def test_an_optional_step_is_turned_on_by_a_flag_named_after_its_label():
    assert flag_name("downsample", set()) == "downsample"
    assert flag_name("block1-0", set()) == "block1_0"
    assert flag_name("2", set()) == "projection"  # a position is no name
    assert flag_name("stride", {"stride"}) == "stride_"
    assert flag_name("lambda", set()) == "lambda_"


def test_defaults_are_expressions_of_earlier_parameters_or_bare_words():
    signature = {
        "width": None,
        "expand": expr.BinOp(op="*", left=expr.Param(name="width"), right=expr.Const(value=4)),
        "act": expr.Param(name="none"),  # a bare word: the compiler reads it as the word
        "later": expr.Param(name="after"),  # a parameter after this one: no default, the parameter is required
        "after": expr.Const(value=1),
    }
    rename = {p: p for p in signature} | {"expand": "expand_"}
    found = defaults(signature, rename, {"width": 8, "after": 1})
    assert {k: unparse(v) for k, v in found.items()} == {"expand_": "width * 4", "act": '"none"', "after": "1"}


def test_a_value_lives_until_its_last_reader():
    steps = [("conv1", ("",)), ("conv2", ("conv1",)), ("add", ("conv2", "")), ("out", ("add",))]
    assert last_reads(steps) == {"conv1": 1, "": 2, "conv2": 2, "add": 3, "out": 3}
    assert last_reads(steps[:1], start=5) == {"conv1": 5, "": 5}


# --- arguments decided across the instances that share code -------------------------------------------------


def test_an_argument_is_its_expression_where_that_gives_every_instance_its_value():
    from cnndsl.backends.blocks import Arguments

    args = Arguments({"c": "channels"}, [{"channels": 64}, {"channels": 128}])
    e = expr.BinOp(op="/", left=expr.Param(name="c"), right=expr.Const(value=2))
    assert args.expression(e, [32, 64]) == "channels // 2"  # a size: `/` divides exactly, the int kept
    assert args.used == {"channels"}
    assert args.expression(e, [32, 65]) is None  # not what the second instance has
    assert args.arg(None, [3, 3]) == "3"


def test_instances_that_differ_where_no_parameter_tells_them_apart_are_split_by_that_value():
    from cnndsl.backends.blocks import Arguments, Differs, template

    envs = {"a": {"k": 1}, "b": {"k": 1}, "c": {"k": 1}}
    kernels = {"a": 3, "b": 5, "c": 3}

    def write(group):
        return Arguments({}, [envs[m] for m in group]).arg(None, [kernels[m] for m in group])

    assert template([["a", "b", "c"]], write) == [(["a", "c"], "3"), (["b"], "5")]
    try:
        Arguments({}, [{}, {}]).same([1, 2])
    except Differs as d:
        assert d.by == [1, 2]
    else:
        raise AssertionError("1 and 2 cannot be one literal")


def test_a_signature_is_keyword_only_after_a_default_and_a_call_leaves_out_what_the_default_gives():
    from cnndsl.backends.blocks import Arguments, Signature

    c, stride = expr.Param(name="c"), expr.Param(name="stride")
    half = expr.BinOp(op="//", left=c, right=expr.Const(value=2))
    block = {"c": None, "stride": expr.Const(value=1), "mid": half, "out": None}
    rename = {p: p for p in block}
    sig = Signature.of(block, rename, {"c": 64, "stride": 1, "mid": 32, "out": 256}, {"c", "stride", "mid", "out"})
    assert sig.parameters() == [("c", None), ("stride", "1"), ("mid", "None"), ("*", None), ("out", None)]
    assert sig.computed() == [("mid", "c // 2")]
    caller = Arguments({"w": "w"}, [{"w": 64}, {"w": 64}])
    values = {"c": [64, 64], "stride": [1, 2], "mid": [32, 32], "out": [256, 256]}
    assert sig.arguments(caller, {"c": expr.Param(name="w"), "stride": stride}, values) is None  # 1 or 2?
    values["stride"] = [2, 2]
    assert sig.arguments(caller, {"c": expr.Param(name="w")}, values) == ["w", "stride=2", "out=256"]


def test_in_channels_is_an_expression_of_the_ir_and_survives_json():
    from cnndsl import Network, loads

    net = loads(
        "block dw(stride) { conv(in.channels, 3, strides=stride, padding=1, groups=in.channels) }\n"
        "network n { input(3, 32, 32) conv(8, 1) dw(2) conv(16, 1) dw(1) }\n"
    )
    convs = [n for n in net.nodes if n.op.kind == "conv" and n.op.groups > 1]
    assert [n.exprs["groups"] for n in convs] == [expr.In(), expr.In()]
    assert [n.op.groups for n in convs] == [8, 16]  # one expression, each instance's value
    again = Network.from_json(net.to_json())
    assert again.to_json() == net.to_json()
    forged = net.to_json().replace('"attr": "channels"', '"attr": "height"', 1)
    try:
        Network.from_json(forged)
    except ValueError as e:
        assert "height" in str(e)
    else:
        raise AssertionError("an IR naming another size of the input must be refused")


def test_a_value_instances_pass_a_nested_block_differently_is_lifted_to_a_parameter_of_their_code():
    from cnndsl.backends.blocks import Arguments, Signature

    gate = Signature({"channels": "channels", "squeeze": "squeeze"}, {"channels": None, "squeeze": None})
    caller = Arguments({"e": "expanded"}, [{"expanded": 72}, {"expanded": 120}])
    values = {"channels": [72, 120], "squeeze": [24, 32]}  # squeeze: make_divisible(e // 4), a function
    exprs = {"channels": expr.Param(name="e")}
    assert gate.arguments(caller, exprs, values) is None  # without lifting: the instances cannot share
    lifted = {}
    args = gate.arguments(caller, exprs, values, lift=lambda name, vals: lifted.setdefault(name, vals) and name)
    assert args == ["expanded", "squeeze"] and lifted == {"squeeze": [24, 32]}
    block = Signature({"e": "expanded"}, {"expanded": None}, lifted=["squeeze"])
    assert block.parameters() == [("expanded", None), ("*", None), ("squeeze", None)]
    outer = Arguments({}, [{}, {}])
    assert block.arguments(outer, {}, {"e": [72, 120]}, {"squeeze": [24, 32]}) is None
    assert block.arguments(outer, {}, {"e": [72, 72]}, {"squeeze": [24, 24]}) == ["72", "squeeze=24"]


def test_the_steps_that_close_a_block_are_optional_a_residual_add_with_its_stochastic_depth_or_an_activation():
    from cnndsl.backends.blocks import closing

    body = [Step("conv", "conv", ("",)), Step("bn", "batchnorm", ("conv",))]
    residual = [*body, Step("sd", "stochastic_depth", ("bn",)), Step("add", "add", ("sd", ""))]
    main, steps = closing(residual, "add", "", lambda name: 1)
    assert main == "bn" and [s.name for s in steps if s.optional] == ["sd", "add"]
    main, steps = closing([*body, Step("relu", "activation", ("bn",))], "relu", "", lambda name: 1)
    assert main == "bn" and [s.name for s in steps if s.optional] == ["relu"]
    projected = [*body, Step("proj", "conv", ("",), optional=True), Step("add", "add", ("bn", "proj"))]
    assert [s.name for s in closing(projected, "add", "", lambda name: 1)[1] if s.optional] == ["proj", "add"]
    assert [s.name for s in closing(projected, "add", "", lambda n: 1, projection=False)[1] if s.optional] == ["proj"]
    assert closing(body, "bn", "", lambda name: 1) == ("bn", body)  # nothing closes it
