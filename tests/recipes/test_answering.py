"""The check that a question at predict time resembles one the model was taught."""
import pytest

from tzoo.errors import TzooError
from tzoo.recipes.answering import check_taught, nearest_questions

TAUGHT = ["what colour is it?", "is it an animal?", "which digit is spoken?"]


def test_nearest_questions_are_ranked_by_similarity():
    near = nearest_questions("is it a animal?", TAUGHT)
    assert [q for _, q in near][0] == "is it an animal?" and near[0][0] > 0.9 and near[0][0] >= near[1][0] >= near[2][0]


def test_a_question_far_from_every_taught_one_warns_or_fails(capsys):
    assert check_taught("what colour is this?", TAUGHT)  # a rephrasing: no warning
    assert capsys.readouterr().err == ""
    assert not check_taught("how tall is the tower?", TAUGHT)
    err = capsys.readouterr().err.strip()
    assert err.startswith("tzoo: warning: question 'how tall is the tower?' is far from every question")
    assert len(err.splitlines()) == 1 and "'what colour is it?'" in err
    with pytest.raises(TzooError, match="far from every question the model was taught.*--strict"):
        check_taught("how tall is the tower?", TAUGHT, strict=True)
