"""ActionTask: causality, masked loss, gradients, bounds, prediction."""
import pytest
import torch

from tzoo.tasks.decision import ActionTask

from .tiny import CONTINUOUS, DISCRETE, batch, random_actions, run, tiny_model


@pytest.mark.parametrize("kind", ["dt", "bc"])
@pytest.mark.parametrize("action", [DISCRETE, CONTINUOUS])
def test_step_t_sees_nothing_after_its_state(kind, action):
    tok, backbone, task = tiny_model(action, kind)
    data = batch(action, k=6)
    out, h = run(tok, backbone, task, data)
    t = 2
    changed = batch(action, k=6, seed=1)
    for name in ("returns", "states", "actions", "timesteps"):
        changed["trajectory"][name][:, :t + 1] = data["trajectory"][name][:, :t + 1]
    changed["trajectory"]["actions"][:, t] = random_actions(action, 3, 1, torch.Generator().manual_seed(2))[:, 0]
    out2, h2 = run(tok, backbone, task, changed)
    first = task.tokens_per_step * t + task.tokens_per_step - 1  # tokens up to and including s_t
    torch.testing.assert_close(h2[:, :first], h[:, :first])
    torch.testing.assert_close(task.predict_actions(h2)[:, :t + 1], task.predict_actions(h)[:, :t + 1])
    assert not torch.allclose(h2[:, first:], h[:, first:])


def test_bc_ignores_returns():
    tok, backbone, task = tiny_model(CONTINUOUS, "bc")
    data = batch(CONTINUOUS)
    out, _ = run(tok, backbone, task, data)
    data["trajectory"]["returns"] = data["trajectory"]["returns"] * 100 + 5
    torch.testing.assert_close(run(tok, backbone, task, data)[0].outputs["actions"], out.outputs["actions"])


@pytest.mark.parametrize("action", [DISCRETE, CONTINUOUS])
def test_loss_ignores_padded_steps(action):
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
    tok, backbone, task = tiny_model(action)
    data = batch(action, mask=mask)
    out, _ = run(tok, backbone, task, data)
    pad = ~mask
    traj = data["trajectory"]
    other = random_actions(action, 3, 5, torch.Generator().manual_seed(9))
    traj["actions"] = torch.where(pad if action.discrete else pad[..., None], other, traj["actions"])
    traj["states"] = torch.where(pad[..., None], torch.full_like(traj["states"], 7.0), traj["states"])
    out2, _ = run(tok, backbone, task, data)
    torch.testing.assert_close(out2.loss, out.loss)
    metric = "action_acc" if action.discrete else "action_mse"
    torch.testing.assert_close(out2.metrics[metric], out.metrics[metric])


@pytest.mark.parametrize("action", [DISCRETE, CONTINUOUS])
def test_every_parameter_gets_a_gradient(action):
    tok, backbone, task = tiny_model(action)
    out, _ = run(tok, backbone, task, batch(action))
    out.loss.backward()
    for module in (tok, backbone, task):
        for name, p in module.named_parameters():
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all(), name
    for module in (tok, task):
        for name, p in module.named_parameters():
            assert p.grad.abs().sum() > 0, name


def test_outputs_and_metrics():
    tok, backbone, task = tiny_model(DISCRETE)
    out, h = run(tok, backbone, task, batch(DISCRETE))
    assert out.outputs["logits"].shape == (3, 5, 3)
    assert out.outputs["actions"].shape == (3, 5) and out.outputs["actions"].dtype == torch.long
    assert set(out.metrics) == {"loss", "action_acc"}
    assert torch.equal(task.predict_actions(h), out.outputs["actions"])
    tok, backbone, task = tiny_model(CONTINUOUS)
    out, h = run(tok, backbone, task, batch(CONTINUOUS))
    assert out.outputs["actions"].shape == (3, 5, 2) and set(out.metrics) == {"loss", "action_mse"}
    torch.testing.assert_close(task.predict_actions(h), out.outputs["actions"])


def test_prediction_without_target_actions():
    task = ActionTask(32, DISCRETE)
    traj = {"states": torch.randn(2, 4, 3), "mask": torch.ones(2, 4, dtype=torch.bool)}
    h = torch.randn(2, 12, 32)  # every token's states, or the state tokens' alone: the same actions
    out = task([h], {"trajectory": traj})
    assert out.loss is None and out.outputs["actions"].shape == (2, 4)
    assert torch.equal(task([h[:, task.readout[1]]], {"trajectory": traj}).outputs["actions"], out.outputs["actions"])


def test_continuous_actions_stay_inside_the_bounds():
    task = ActionTask(32, CONTINUOUS)
    torch.nn.init.normal_(task.head.weight, std=10.0)
    y = task.act(torch.randn(4000, 32))  # (N, 2), saturating
    low, high = torch.tensor(CONTINUOUS.low), torch.tensor(CONTINUOUS.high)
    assert (y >= low).all() and (y <= high).all()
    assert torch.allclose(y.min(0).values, low, atol=1e-2) and torch.allclose(y.max(0).values, high, atol=1e-2)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        ActionTask(32, DISCRETE, kind="ppo")


@pytest.mark.parametrize("kind", ["dt", "bc"])
@pytest.mark.parametrize("action", [DISCRETE, CONTINUOUS])
def test_the_model_reads_out_state_tokens_alone_with_the_same_result(kind, action):
    from tzoo.tasks import TzooModel

    tok, backbone, task = tiny_model(action, kind)
    model = TzooModel({"trajectory": tok}, backbone, {"control": task}).eval()
    data = batch(action, mask=torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] * 5]))
    parts, _ = model.encode(data)
    assert parts[-1].shape[1] == 5  # one state per step, not tps * K tokens
    full, _ = run(tok, backbone, task, data)
    got = model(data)
    torch.testing.assert_close(got.loss, full.loss)
    torch.testing.assert_close(got.outputs["actions"].float(), full.outputs["actions"].float())
