"""Custom reaction conditions: a tiny, safe expression language.

``label == 'needs-tests'``, ``'bug' in labels and ci == 'failing'``, ``status != 'ready'``.
Only names, string/number/bool literals, comparisons (``== != in not in < <= > >=``),
``and``/``or``/``not`` and parentheses are allowed; anything else is a config error.
Nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import difflib
import operator
import typing as t

from ao.sdk.errors import ConfigError

NAMES = ("status", "activity", "ci", "review", "labels", "label", "branch", "draft", "conflicts")
_CMP: dict[type[ast.cmpop], t.Callable[[t.Any, t.Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def parse(source: str, where: str = "condition") -> ast.Expression:
    """Parse and vet ``source``; raise ConfigError naming ``where`` when it is not allowed."""
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"{where}: invalid condition {source!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in NAMES:
            close = difflib.get_close_matches(node.id, NAMES, n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where}: unknown name {node.id!r} in condition{guess}",
                hint=f"known: {', '.join(NAMES)}",
            )
        allowed = (
            ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare,
            ast.Name, ast.Load, ast.Constant, ast.Tuple, ast.List, *_CMP,
        )  # fmt: skip
        if not isinstance(node, allowed):
            raise ConfigError(f"{where}: {type(node).__name__} is not allowed in a condition")
    return tree


def evaluate(tree: ast.Expression, env: t.Mapping[str, t.Any]) -> bool:
    """Evaluate a vetted condition against ``env``."""
    return bool(_eval(tree.body, env))


def _eval(node: ast.AST, env: t.Mapping[str, t.Any]) -> t.Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, ast.Tuple | ast.List):
        return [_eval(e, env) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, env)
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, env) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, env)
            # `label == 'x'` means "one of the PR's labels is x"
            if (
                isinstance(left, list)
                and isinstance(op, ast.Eq | ast.NotEq)
                and not isinstance(right, list)
            ):
                result = (right in left) == isinstance(op, ast.Eq)
            else:
                try:
                    result = _CMP[type(op)](left, right)
                except TypeError:
                    result = False
            if not result:
                return False
            left = right
        return True
    raise ConfigError(f"{type(node).__name__} is not allowed in a condition")
