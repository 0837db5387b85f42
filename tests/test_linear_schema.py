"""The Linear schema rebuilt from ``@linear/sdk``, and the plugin's documents against it."""

from __future__ import annotations

import pytest
from ao_plugins.linear import queries

from tests import linear_schema


@pytest.fixture(scope="module", autouse=True)
def schema() -> None:
    reason = linear_schema.available()
    if reason:  # the Makefile installs it; a missing schema must not pass silently
        pytest.fail(reason)
    linear_schema.load()


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_every_plugin_document_fits_linears_schema(name: str) -> None:
    assert linear_schema.validate(queries.ALL[name]) == []


def test_the_rebuilt_schema_is_consistent_and_has_what_the_plugin_reads() -> None:
    import graphql

    schema = linear_schema.load()
    assert graphql.validate_schema(schema) == []
    issue = schema.get_type("Issue")
    assert isinstance(issue, graphql.GraphQLObjectType)
    assert str(issue.fields["branchName"].type) == "String!"
    assert str(issue.fields["description"].type) == "String"
    assert str(issue.fields["labels"].type) == "IssueLabelConnection!"
    assert {"first", "after", "filter"} <= set(issue.fields["labels"].args)
    assert [i.name for i in issue.interfaces] == ["Node"]
    mutation = schema.mutation_type
    assert mutation is not None
    update = mutation.fields["issueUpdate"]
    assert {a: str(v.type) for a, v in update.args.items()} == {
        "id": "String!", "input": "IssueUpdateInput!"}  # fmt: skip
    order = schema.get_type("PaginationOrderBy")
    assert isinstance(order, graphql.GraphQLEnumType)
    assert set(order.values) == {"createdAt", "updatedAt"}


def test_the_sdks_own_issue_and_team_documents_validate() -> None:
    """Linear's build validated these against the real schema; so must the rebuilt one."""
    docs = [d for d in linear_schema.sdk_documents()
            if re_any(d, "issue(", "issues(", "issueUpdate(", "commentCreate(", "team(",
                      "issueLabels(", "workflowStates(")]  # fmt: skip
    assert len(docs) > 20
    assert linear_schema.check_sdk_documents(docs) == []


def re_any(doc: str, *needles: str) -> bool:
    return any(n in doc for n in needles)


def test_the_validator_rejects_what_linear_would() -> None:
    assert linear_schema.validate("query { issue(id: 1) { nope } }")
    assert linear_schema.validate("query { issue { id } }")  # missing required argument
    assert linear_schema.validate("query {")[0].startswith("syntax:")
    errors = linear_schema.validate_variables(
        queries.ISSUES, {"team": "ENG", "first": 5, "filter": {"team": {"key": {"equals": "x"}}}}
    )
    assert errors and "equals" in errors[0]
    assert linear_schema.validate_variables(queries.ISSUE, {}) != []
    assert linear_schema.validate_variables(queries.ISSUE, {"id": "ENG-1"}) == []
