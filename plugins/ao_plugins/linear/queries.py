"""Every GraphQL document the Linear plugin sends (the tests validate each against the schema).

Names start with ``Ao`` so they stand out in Linear's audit logs. Connections are read
in pages (``first``/``after`` with ``pageInfo``); Linear allows up to 250 a page.
"""

from __future__ import annotations

ISSUE_FIELDS = """
fragment AoIssueFields on Issue {
  id
  identifier
  title
  description
  url
  branchName
  state { id name type }
  team { id key }
  labels(first: 100) { nodes { id name } }
}
"""

ISSUE = (
    """
query AoIssue($id: String!) {
  issue(id: $id) { ...AoIssueFields }
}
"""
    + ISSUE_FIELDS
)

# One request answers both: does the team exist, and a page of its matching issues.
ISSUES = (
    """
query AoIssues($team: String!, $filter: IssueFilter, $first: Int!, $after: String) {
  teams(filter: { key: { eqIgnoreCase: $team } }, first: 1) { nodes { id key } }
  issues(filter: $filter, first: $first, after: $after, orderBy: createdAt) {
    nodes { ...AoIssueFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + ISSUE_FIELDS
)

STATES = """
query AoStates($teamId: String!, $after: String) {
  team(id: $teamId) {
    id
    key
    states(first: 250, after: $after) {
      nodes { id name type position }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

# The labels an issue of the team can carry: the team's and the workspace's.
LABELS = """
query AoLabels($teamId: ID!, $after: String) {
  issueLabels(
    filter: { or: [{ team: { id: { eq: $teamId } } }, { team: { null: true } }] }
    first: 250
    after: $after
  ) {
    nodes { id name isGroup }
    pageInfo { hasNextPage endCursor }
  }
}
"""

COMMENT = """
mutation AoComment($input: CommentCreateInput!) {
  commentCreate(input: $input) { success comment { id } }
}
"""

UPDATE = (
    """
mutation AoIssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) { success issue { ...AoIssueFields } }
}
"""
    + ISSUE_FIELDS
)

ALL = {"ISSUE": ISSUE, "ISSUES": ISSUES, "STATES": STATES, "LABELS": LABELS,
       "COMMENT": COMMENT, "UPDATE": UPDATE}  # fmt: skip
