"""What crosses between the trusted side and the learner's sandbox: data, never code.

Both sides describe values with the same small vocabulary: Python scalars and strings, tuples,
lists, dicts, tensors (by storage, so that views and shared storage survive the trip), modules by
their *state* (class name, parameters, buffers, children, pruning hooks and plain attributes),
``torch.nn.utils.prune`` methods by their attributes, objects of a few allow-listed library classes
(Lightning's ``ModelPruning``) by their attributes, library functions by name, and callables that
stay where they were made (a *handle*: calling it asks the other side to run it).

A message is ``torch.save`` of such a description. The trusted side reads what the learner's side
sends with ``torch.load(weights_only=True)``, which builds only tensors and plain containers and
never runs code, and then turns descriptions into objects of trusted classes itself. Learner-made
classes, functions and objects never become objects on the trusted side: a learner function comes
back as a handle, anything else as an :class:`Opaque` placeholder.

Every object the trusted side sends carries a *token*. After a call, the learner's side describes
those objects again (their state after the call), and the trusted side applies that state to its
own objects in place: a function that prunes the layer it is given prunes the trusted side's layer,
``result is layer`` holds when the function returns what it was given, and tensors that share
storage there share it here.
"""

from __future__ import annotations

import functools
import importlib
import io
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils import prune

# Classes a module description may name: torch's own layers and the course's models.
MODULE_PREFIXES = ("torch.nn.", "torch.ao.nn.", "helpers.", "torchmetrics.")
# Non-module classes rebuilt from their attributes (their methods are library code).
OBJECT_CLASSES = frozenset(
    {
        "lightning.pytorch.callbacks.pruning.ModelPruning",
        "functools.partial",
    }
)
# Library functions and classes that may be named (by module and name): the pruning API only.
GLOBAL_MODULES = frozenset({"torch.nn.utils.prune", "helpers.pruning"})
SCALARS = (bool, int, float, complex, str, bytes, type(None))
# Plain attributes of a module that matter (shapes, strides, flags); others are recomputed or private.
PRIVATE_ATTRS = frozenset({"_reversed_padding_repeated_twice"})
MODULE_SLOTS = frozenset(
    {
        "training",
        "_parameters",
        "_buffers",
        "_non_persistent_buffers_set",
        "_backward_pre_hooks",
        "_backward_hooks",
        "_is_full_backward_hook",
        "_forward_hooks",
        "_forward_hooks_with_kwargs",
        "_forward_hooks_always_called",
        "_forward_pre_hooks",
        "_forward_pre_hooks_with_kwargs",
        "_state_dict_hooks",
        "_state_dict_pre_hooks",
        "_load_state_dict_pre_hooks",
        "_load_state_dict_post_hooks",
        "_modules",
    }
)
MAX_DEPTH = 64


class DecodeError(ValueError):
    """A description that the trusted side refuses to turn into an object."""


class Opaque:
    """Stands for an object of a class the trusted side does not rebuild (e.g. one defined in the
    notebook). Any use other than printing it fails."""

    def __init__(self, type_name: str):
        self._type_name = type_name

    def __repr__(self) -> str:
        return f"<{self._type_name} object from the notebook, not rebuilt by the grader>"

    def __getattr__(self, name):
        raise TypeError(
            f"an object of class {self._type_name} (defined in the notebook) cannot be "
            "used by the grader: return torch, Python or course objects"
        )


def qualified(obj) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def dumps(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def loads_data(blob: bytes):
    """Read a message from the learner's side: tensors and plain containers only (no code runs)."""
    return torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")


def loads_trusted(blob: bytes):
    """Read a message from the trusted side (only the learner's side does this)."""
    return torch.load(io.BytesIO(blob), weights_only=False, map_location="cpu")


@dataclass
class Encoder:
    """Describes values. ``tokens`` maps ``id(obj)`` to the token the other side knows it by."""

    own_tokens: bool = False  # the trusted side: every object is sent with its own token ("mine")
    tokens: dict[int, int] = field(default_factory=dict)  # learner side: id(obj) -> the trusted side's token
    storage_tokens: dict[int, int] = field(default_factory=dict)  # learner side: data_ptr -> token
    objects: dict[int, object] = field(default_factory=dict)  # trusted side: token -> what it sent
    handle: Callable[[object], dict] | None = None  # describes a callable that stays on this side
    name_global: bool = True  # name library functions (the learner's side does)
    fallback: Callable[[object], dict] | None = None  # for anything else (the trusted side pickles)
    storages: dict[int, dict] = field(default_factory=dict)
    storage_ids: dict[int, int] = field(default_factory=dict)
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)  # data_ptr -> bytes when received
    keep: list = field(default_factory=list)  # objects described, alive while the ids are used
    seen: dict[int, dict] = field(default_factory=dict)

    def encode(self, value, depth: int = 0):
        if depth > MAX_DEPTH:
            raise ValueError("the value is nested too deeply to describe")
        kind = type(value)
        if kind in SCALARS:
            return value
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int) and not isinstance(value, torch.Tensor):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, (torch.dtype, torch.device, torch.layout)):
            return {"@": "torch", "value": value}
        if isinstance(value, torch.Size):
            return {"@": "size", "items": [int(v) for v in value]}
        number = _numpy_scalar(value)
        if number is not None:
            return number
        key = id(value)
        if key in self.seen:  # shared within this message: describe once, refer after
            return {"@": "same", "id": key}
        if isinstance(value, torch.Tensor):
            return self._remember(value, self.tensor(value))
        if _is_ndarray(value):
            return {"@": "ndarray", "tensor": self.encode(torch.from_numpy(value.copy()), depth + 1)}
        if isinstance(value, nn.Module):
            return self._remember(value, self.module(value, depth))
        if isinstance(value, prune.BasePruningMethod) and type(value).__module__ == prune.__name__:
            return self._remember(
                value,
                {
                    "@": "pruning",
                    "class": type(value).__name__,
                    **self.token(value),
                    "attrs": self.attrs(vars(value), depth, everything=True),
                },
            )
        if isinstance(value, (list, tuple, set, frozenset)) and type(value) in (list, tuple, set, frozenset):
            desc = {"@": type(value).__name__, **self.token(value), "items": None}
            self._remember(value, desc)
            desc["items"] = [self.encode(v, depth + 1) for v in value]
            return desc
        if type(value) in (dict, OrderedDict):
            desc = {"@": "dict", "ordered": type(value) is OrderedDict, **self.token(value), "items": None}
            self._remember(value, desc)
            desc["items"] = [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]
            return desc
        if qualified(value) in OBJECT_CLASSES:
            if isinstance(value, functools.partial):
                return {
                    "@": "partial",
                    "func": self.encode(value.func, depth + 1),
                    "args": self.encode(tuple(value.args), depth + 1),
                    "keywords": self.encode(dict(value.keywords), depth + 1),
                }
            desc = {"@": "object", "class": qualified(value), **self.token(value), "attrs": None}
            self._remember(value, desc)
            desc["attrs"] = self.attrs(vars(value), depth, everything=True)
            return desc
        named = self.named(value) if self.name_global else None
        if named:
            return named
        if self.fallback is not None:
            return self.fallback(value)
        if callable(value) and self.handle is not None:
            return self.handle(value)
        return {"@": "opaque", "type": qualified(value)}

    def token(self, value) -> dict:
        """``{"mine": t}`` (an object the trusted side sends) or ``{"yours": t}`` (one it sent)."""
        if self.own_tokens:
            self.objects[id(value)] = value
            return {"mine": id(value)}
        token = self.tokens.get(id(value))
        return {} if token is None else {"yours": token}

    def _remember(self, value, desc: dict) -> dict:
        self.seen[id(value)] = desc
        self.keep.append(value)
        desc["id"] = id(value)
        return desc

    def named(self, value) -> dict | None:
        """A library function or class of :data:`GLOBAL_MODULES`, by module and name."""
        module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
        if module in GLOBAL_MODULES and isinstance(name, str) and "." not in name:
            if getattr(importlib.import_module(module), name, None) is value:
                return {"@": "global", "module": module, "name": name}
        return None

    def storage(self, tensor: torch.Tensor) -> int:
        storage = tensor.untyped_storage()
        key = storage.data_ptr() if storage.nbytes() else -len(self.storage_ids) - 1
        if key not in self.storage_ids:
            sid = len(self.storage_ids)
            self.storage_ids[key] = sid
            raw = torch.empty(0, dtype=torch.uint8).set_(storage)
            if self.own_tokens:
                self.objects[key] = storage
                entry = {"bytes": raw.clone(), "mine": key}
            elif key in self.storage_tokens:  # sent by the trusted side: its bytes only if changed
                before = self.snapshots.get(key)
                same = before is not None and before.shape == raw.shape and torch.equal(before, raw)
                entry = {"yours": self.storage_tokens[key], "bytes": None if same else raw.clone()}
            else:
                entry = {"bytes": raw.clone()}
            self.storages[sid] = entry
            self.keep.append(storage)
        return self.storage_ids[key]

    def tensor(self, value: torch.Tensor) -> dict:
        token = self.token(value)
        plain = value.detach()
        if plain.layout != torch.strided or plain.is_quantized:
            return {
                "@": "tensor_value",
                **token,
                "value": plain.clone(),
                "param": isinstance(value, nn.Parameter),
                "grad": bool(value.requires_grad),
            }
        return {
            "@": "tensor",
            **token,
            "storage": self.storage(plain),
            "dtype": plain.dtype,
            "offset": plain.storage_offset(),
            "size": list(plain.shape),
            "stride": list(plain.stride()),
            "param": isinstance(value, nn.Parameter),
            "grad": bool(value.requires_grad),
        }

    def module(self, module: nn.Module, depth: int) -> dict:
        d = vars(module)
        desc = {
            "@": "module",
            "class": qualified(module),
            **self.token(module),
            "training": bool(d.get("training", True)),
        }
        self._remember(module, desc)
        desc["params"] = [[n, self.encode(p, depth + 1)] for n, p in d.get("_parameters", {}).items()]
        desc["buffers"] = [[n, self.encode(b, depth + 1)] for n, b in d.get("_buffers", {}).items()]
        desc["nonpersistent"] = sorted(d.get("_non_persistent_buffers_set", ()))
        desc["children"] = [[n, self.encode(m, depth + 1)] for n, m in d.get("_modules", {}).items()]
        desc["pre_hooks"] = [self.encode(h, depth + 1) for h in d.get("_forward_pre_hooks", {}).values()]
        desc["hooks"] = [self.encode(h, depth + 1) for h in d.get("_forward_hooks", {}).values()]
        desc["attrs"] = self.attrs(d, depth)
        hparams = d.get("_hparams")
        desc["hparams"] = self.encode(dict(hparams), depth + 1) if hparams is not None else None
        return desc

    def attrs(self, namespace: dict, depth: int, everything: bool = False) -> list:
        """Plain-data attributes (and, for allow-listed objects, every attribute)."""
        found = []
        for name, value in namespace.items():
            if name in MODULE_SLOTS or not isinstance(name, str):
                continue
            if not everything and name.startswith("_") and name not in PRIVATE_ATTRS:
                continue
            if everything or _is_data(value) or isinstance(value, torch.Tensor):  # e.g. a pruned `weight`
                found.append([name, self.encode(value, depth + 1)])
        return found

    def message(self, body) -> dict:
        """``body`` described, with the storages it uses."""
        described = self.encode(body)
        return {"body": described, "storages": self.storages}


def _is_data(value, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if type(value) in SCALARS or isinstance(value, (torch.dtype, torch.Size)):
        return True
    if type(value) in (tuple, list):
        return all(_is_data(v, depth + 1) for v in value)
    return False


def _numpy_scalar(value):
    module = type(value).__module__
    if module == "numpy" and hasattr(value, "item") and getattr(value, "shape", None) == ():
        item = value.item()
        return item if type(item) in SCALARS else None
    return None


def _is_ndarray(value) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


@dataclass
class Decoder:
    """Turns descriptions into objects. ``objects`` maps tokens to the objects they stand for
    (on the trusted side: the objects it sent; on the learner's side: what it built from them)."""

    storages: dict
    objects: dict[int, object] = field(default_factory=dict)
    remote: Callable[[dict], object] | None = None  # a handle from the other side -> a callable
    local: Callable[[dict], object] | None = None  # a handle of this side -> the object it names
    trusted: bool = True  # refuse classes outside the allow-lists (the trusted side)
    built: dict[int, object] = field(default_factory=dict)
    made_storages: dict[int, torch.UntypedStorage] = field(default_factory=dict)
    by_token: dict[int, object] = field(default_factory=dict)  # learner side: token -> what it built
    storage_tokens: dict[int, int] = field(default_factory=dict)  # learner side: data_ptr -> token
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)  # learner side: data_ptr -> bytes

    def decode(self, desc, depth: int = 0):
        if depth > MAX_DEPTH:
            raise DecodeError("the description is nested too deeply")
        if not isinstance(desc, dict):
            if type(desc) in SCALARS:
                return desc
            raise DecodeError(f"unexpected {type(desc).__name__} in a description")
        tag = desc.get("@")
        if tag == "same":
            if desc["id"] not in self.built:
                raise DecodeError("a reference to an object not described before")
            return self.built[desc["id"]]
        if tag == "torch":
            return desc["value"]
        if tag == "size":
            return torch.Size(desc["items"])
        if tag == "ndarray":
            return self.decode(desc["tensor"], depth + 1).numpy()
        if tag in ("tensor", "tensor_value"):
            return self._built(desc, self.tensor(desc))
        if tag == "module":
            return self.module(desc, depth)
        if tag == "pruning":
            cls = getattr(prune, desc["class"], None)
            if not (isinstance(cls, type) and issubclass(cls, prune.BasePruningMethod)):
                raise DecodeError(f"{desc['class']} is not a torch.nn.utils.prune method")
            method = self._existing(desc) or cls.__new__(cls)
            self._built(desc, method)
            state = self.attrs(desc["attrs"], depth)
            for name, value in state.items():
                methods = isinstance(value, tuple) and all(
                    isinstance(v, prune.BasePruningMethod) for v in value)
                plain = _is_data(value) or isinstance(value, torch.Tensor)  # CustomFromMask keeps its mask
                if not (plain or (name == "_pruning_methods" and methods)) or hasattr(cls, name):
                    raise DecodeError(f"a pruning method's attribute {name!r} must be plain data")
            vars(method).clear()
            vars(method).update(state)
            return method
        if tag in ("list", "tuple", "set", "frozenset"):
            return self.sequence(desc, tag, depth)
        if tag == "dict":
            return self.mapping(desc, depth)
        if tag == "object":
            return self.object(desc, depth)
        if tag == "partial":
            func = self.decode(desc["func"], depth + 1)
            return functools.partial(
                func, *self.decode(desc["args"], depth + 1), **self.decode(desc["keywords"], depth + 1)
            )
        if tag == "global":
            if desc["module"] not in GLOBAL_MODULES:
                raise DecodeError(
                    f"{desc['module']}.{desc['name']} is not a library function the grader names"
                )
            return getattr(importlib.import_module(desc["module"]), desc["name"])
        if tag == "handle":
            return self.remote(desc) if self.remote else Opaque("function")
        if tag == "home":
            return self.local(desc) if self.local else Opaque("function")
        if tag == "pickle":
            if self.trusted:
                raise DecodeError("pickled data is refused")
            import pickle

            return pickle.loads(desc["data"])
        if tag == "opaque":
            return Opaque(str(desc.get("type")))
        raise DecodeError(f"unknown description {tag!r}")

    def _existing(self, desc: dict):
        if "yours" not in desc:
            return None
        if desc["yours"] not in self.objects:
            raise DecodeError("a reference to an object the grader never sent")
        return self.objects[desc["yours"]]

    def _built(self, desc: dict, obj):
        self.built[desc["id"]] = obj
        if "mine" in desc:
            self.by_token[desc["mine"]] = obj
        return obj

    def storage(self, sid: int) -> torch.UntypedStorage:
        if sid not in self.made_storages:
            entry = self.storages[sid]
            raw = entry.get("bytes")
            if raw is not None and (
                not isinstance(raw, torch.Tensor) or raw.dtype != torch.uint8 or raw.dim() != 1
            ):
                raise DecodeError("a storage must be a 1-D uint8 tensor")
            if "yours" in entry:  # a storage this side sent, changed in place or not
                mine = self.objects.get(entry["yours"])
                if not isinstance(mine, torch.UntypedStorage):
                    raise DecodeError("a reference to a storage the grader never sent")
                if raw is not None:
                    if raw.numel() != mine.nbytes():
                        raise DecodeError("a storage changed its size")
                    with torch.no_grad():
                        torch.empty(0, dtype=torch.uint8).set_(mine).copy_(raw)
                self.made_storages[sid] = mine
            else:
                if raw is None:
                    raise DecodeError("a new storage without its bytes")
                made = raw.clone().untyped_storage()
                self.made_storages[sid] = made
                if "mine" in entry and made.nbytes():
                    self.storage_tokens[made.data_ptr()] = entry["mine"]
                    self.snapshots[made.data_ptr()] = raw.clone()
        return self.made_storages[sid]

    def tensor(self, desc: dict) -> torch.Tensor:
        existing = self._existing(desc)
        if desc["@"] == "tensor_value":
            value = desc["value"]
            if not isinstance(value, torch.Tensor):
                raise DecodeError("a tensor value must be a tensor")
            made = value
        else:
            dtype = desc["dtype"]
            if not isinstance(dtype, torch.dtype):
                raise DecodeError("a tensor's dtype must be a torch.dtype")
            size, stride, offset = list(desc["size"]), list(desc["stride"]), int(desc["offset"])
            storage = self.storage(desc["storage"])
            _check_bounds(storage.nbytes(), dtype, size, stride, offset)
            made = torch.empty(0, dtype=dtype).set_(storage, offset, size, stride)
        if existing is not None:
            if not isinstance(existing, torch.Tensor):
                raise DecodeError("a tensor description refers to something else")
            with torch.no_grad():
                if (
                    existing.layout == torch.strided
                    and made.layout == torch.strided
                    and existing.dtype == made.dtype
                ):
                    if (
                        existing.untyped_storage().data_ptr() != made.untyped_storage().data_ptr()
                        or existing.shape != made.shape
                        or existing.stride() != made.stride()
                        or existing.storage_offset() != made.storage_offset()
                    ):
                        existing.set_(
                            made.untyped_storage(), made.storage_offset(), made.shape, made.stride()
                        )
                elif (existing.layout, existing.dtype, existing.shape) != (
                    made.layout,
                    made.dtype,
                    made.shape,
                ) or existing.layout == torch.strided:
                    existing.data = made
            if existing.is_leaf and (existing.is_floating_point() or not desc["grad"]):
                existing.requires_grad_(bool(desc["grad"]))
            return existing
        if desc["param"]:
            return nn.Parameter(made, requires_grad=bool(desc["grad"]) and made.is_floating_point())
        if desc["grad"] and made.is_floating_point():
            made.requires_grad_(True)
        return made

    def module(self, desc: dict, depth: int, into: nn.Module | None = None) -> nn.Module:
        existing = self._existing(desc)
        fresh = existing is None  # built here: its constructor's own children may be reused
        if existing is None and into is not None and qualified(into) == desc["class"]:
            existing = into  # a child the parent's own constructor made (e.g. a torchmetrics metric)
        if existing is not None:
            module = existing
        else:
            cls = self.module_class(desc["class"])
            hparams = self.decode(desc["hparams"], depth + 1) if desc.get("hparams") is not None else None
            if hparams is not None and hasattr(cls, "save_hyperparameters"):
                module = cls(**hparams)
            else:
                module = cls.__new__(cls)
                nn.Module.__init__(module)
        self._built(desc, module)
        d = vars(module)
        d["training"] = bool(desc["training"])
        d["_parameters"] = OrderedDict((n, self.decode(p, depth + 1)) for n, p in desc["params"])
        d["_buffers"] = OrderedDict((n, self.decode(b, depth + 1)) for n, b in desc["buffers"])
        d["_non_persistent_buffers_set"] = set(desc["nonpersistent"])
        before = d.get("_modules", {}) if fresh else {}  # only children the constructor just made
        children = OrderedDict((n, self._child(m, before.get(n), depth)) for n, m in desc["children"])
        if not all(m is None or isinstance(m, nn.Module) for m in children.values()):
            raise DecodeError("a module's children must be modules")
        d["_modules"] = children
        for store in ("_parameters", "_buffers"):
            if not all(t is None or isinstance(t, torch.Tensor) for t in d[store].values()):
                raise DecodeError("parameters and buffers must be tensors")
        for name, value in self.attrs(desc["attrs"], depth).items():
            plain = _is_data(value) or isinstance(value, torch.Tensor)
            if not plain or hasattr(type(module), name) or name in MODULE_SLOTS:
                raise DecodeError(f"a module attribute {name!r} must be plain data and not shadow the class")
            d[name] = value
        for hooks in ("_forward_pre_hooks", "_forward_hooks", "_forward_pre_hooks_with_kwargs",
                      "_forward_hooks_with_kwargs", "_forward_hooks_always_called"):
            d[hooks].clear()
        for hook in desc["pre_hooks"]:
            module.register_forward_pre_hook(self.hook(hook, depth))
        for hook in desc["hooks"]:
            module.register_forward_hook(self.hook(hook, depth))
        return module

    def _child(self, desc, current, depth: int):
        if isinstance(desc, dict) and desc.get("@") == "module" and "yours" not in desc:
            return self.module(desc, depth + 1, into=current)
        return self.decode(desc, depth + 1)

    def hook(self, desc, depth: int):
        hook = self.decode(desc, depth + 1)
        if not callable(hook):
            raise DecodeError("a hook must be callable")
        return hook

    def module_class(self, name: str) -> type:
        cls = self.resolve(name, MODULE_PREFIXES)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise DecodeError(f"{name} is not a module class")
        return cls

    def resolve(self, name: str, prefixes) -> object:
        if not isinstance(name, str):
            raise DecodeError("a class name must be a string")
        if self.trusted and not name.startswith(prefixes) and name not in OBJECT_CLASSES:
            raise DecodeError(
                f"{name} is not a library class the grader rebuilds (a class defined in "
                "the notebook cannot be graded: use torch's or the course's classes)"
            )
        module, _, qualname = name.rpartition(".")
        while module:
            try:
                obj = importlib.import_module(module)
                break
            except ImportError:
                module, _, head = module.rpartition(".")
                qualname = f"{head}.{qualname}"
        else:
            raise DecodeError(f"{name} cannot be found")
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if obj is None or qualified(obj) != name:
            raise DecodeError(f"{name} cannot be found")
        return obj

    def sequence(self, desc: dict, tag: str, depth: int):
        existing = self._existing(desc)
        if tag == "list":
            made = existing if isinstance(existing, list) else []
            self._built(desc, made)
            made[:] = [self.decode(v, depth + 1) for v in desc["items"]]
            return made
        items = [self.decode(v, depth + 1) for v in desc["items"]]
        made = {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        return self._built(desc, made)

    def mapping(self, desc: dict, depth: int):
        existing = self._existing(desc)
        made = existing if isinstance(existing, dict) else (OrderedDict() if desc["ordered"] else {})
        self._built(desc, made)
        items = [(self.decode(k, depth + 1), self.decode(v, depth + 1)) for k, v in desc["items"]]
        made.clear()
        made.update(items)
        return made

    def object(self, desc: dict, depth: int):
        cls = self.resolve(desc["class"], ())
        existing = self._existing(desc)
        made = existing if existing is not None else cls.__new__(cls)
        self._built(desc, made)
        state = self.attrs(desc["attrs"], depth)
        vars(made).clear()
        vars(made).update(state)
        return made

    def attrs(self, pairs, depth: int) -> dict:
        found = {}
        for name, value in pairs:
            if not isinstance(name, str) or name.startswith("__"):
                raise DecodeError(f"attribute name {name!r} refused")
            found[name] = self.decode(value, depth + 1)
        return found


def _check_bounds(nbytes: int, dtype: torch.dtype, size, stride, offset: int) -> None:
    if len(size) != len(stride) or any(s < 0 for s in size) or any(s < 0 for s in stride) or offset < 0:
        raise DecodeError("a tensor's size, stride and offset must be non-negative")
    item = torch.empty(0, dtype=dtype).element_size()
    if math.prod(size) == 0:
        return
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if (last + 1) * item > nbytes:
        raise DecodeError("a tensor reaches past the end of its storage")
