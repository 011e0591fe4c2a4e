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
