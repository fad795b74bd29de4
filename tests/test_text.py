import numpy as np
import pytest
from avgzsl_extractors.text import (
    TextConfig,
    TextVectorError,
    class_vectors,
    load_word_vectors,
    sha256_file,
    write_text_features,
)
from gensim.models import KeyedVectors

from avgzsl.formats.shards import read_feature_shard

WORDS = ["church", "bell", "dog", "bark", "Paris"]


@pytest.fixture(scope="module")
def glove():
    return load_word_vectors(TextConfig())


def _tiny_kv() -> KeyedVectors:
    rng = np.random.default_rng(0)
    kv = KeyedVectors(4, count=0, dtype=np.float32)
    kv.add_vectors(WORDS, rng.normal(size=(len(WORDS), 4)).astype(np.float32))
    return kv


def test_glove_loads_400k_words(glove):
    assert len(glove.index_to_key) == 400_000
    assert glove.vector_size == 50
    assert glove.most_similar("dog", topn=1)[0][0] == "cat"


def test_multiword_name_is_mean_of_tokens(glove):
    raw = class_vectors(glove, ["church-bell"], normalize=False)[0]
    expected = (glove["church"] + glove["bell"]) / 2
    np.testing.assert_allclose(raw, expected, rtol=1e-6, atol=1e-6)
    unit = class_vectors(glove, ["church-bell", "dog_bark", "Car"], normalize=True)
    np.testing.assert_allclose(unit[0], expected / np.linalg.norm(expected), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(unit[2], glove["car"] / np.linalg.norm(glove["car"]), rtol=1e-5, atol=1e-6)


def test_whole_name_preferred_when_in_vocab():
    kv = _tiny_kv()
    kv.add_vectors(["church_bell"], np.full((1, 4), 7.0, np.float32))
    for name in ("church_bell", "church-bell", "church bell"):
        np.testing.assert_allclose(class_vectors(kv, [name], normalize=False)[0], 7.0)


def test_oov_error_lists_every_class_and_token():
    kv = _tiny_kv()
    with pytest.raises(TextVectorError) as err:
        class_vectors(kv, ["dog", "zebra-crossing", "church-bell", "qwxz"], normalize=True)
    message = str(err.value)
    assert "2 class(es)" in message
    assert "'zebra-crossing' (missing: zebra, crossing)" in message
    assert "'qwxz'" in message
    assert "church-bell" not in message


def test_partial_token_hit_averages_known_tokens():
    kv = _tiny_kv()
    vec = class_vectors(kv, ["dog-zebra"], normalize=False)[0]
    np.testing.assert_allclose(vec, kv["dog"], rtol=1e-6)


@pytest.mark.parametrize("name,binary", [("tiny.bin", True), ("tiny.txt", False), ("tiny.vec", False)])
def test_word2vec_round_trip(tmp_path, name, binary):
    kv = _tiny_kv()
    path = tmp_path / name
    kv.save_word2vec_format(str(path), binary=binary)
    loaded = load_word_vectors(TextConfig(source=str(path)))
    assert loaded.index_to_key == WORDS
    np.testing.assert_allclose(loaded["bell"], kv["bell"], rtol=1e-5, atol=1e-6)
    # word2vec is case-sensitive: the given spelling is used when the lower-case one is absent
    np.testing.assert_allclose(class_vectors(loaded, ["Paris"], normalize=False)[0], kv["Paris"], rtol=1e-5)


def test_checksum_verified(tmp_path):
    path = tmp_path / "tiny.bin"
    _tiny_kv().save_word2vec_format(str(path), binary=True)
    good = sha256_file(path)
    load_word_vectors(TextConfig(source=str(path), sha256=good))
    with pytest.raises(TextVectorError, match="sha256"):
        load_word_vectors(TextConfig(source=str(path), sha256="0" * 64))


def test_unknown_extension_needs_binary_flag(tmp_path):
    path = tmp_path / "vectors.dat"
    _tiny_kv().save_word2vec_format(str(path), binary=True)
    with pytest.raises(TextVectorError, match="binary"):
        load_word_vectors(TextConfig(source=str(path)))
    assert load_word_vectors(TextConfig(source=str(path), binary=True)).vector_size == 4


def test_write_text_features(tmp_path):
    src = tmp_path / "tiny.txt"
    _tiny_kv().save_word2vec_format(str(src), binary=False)
    out = write_text_features(["dog", "church-bell"], tmp_path / "text.h5", TextConfig(source=str(src)))
    shard = read_feature_shard(out)
    assert shard.modality == "text"
    assert shard.ids == ["dog", "church-bell"]
    assert shard.features.shape == (2, 4)
    np.testing.assert_allclose(np.linalg.norm(shard.features, axis=1), 1.0, rtol=1e-5)
    assert shard.settings["source"] == "tiny.txt"
