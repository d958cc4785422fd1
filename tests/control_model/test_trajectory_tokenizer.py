"""TrajectoryTokenizer: token order, type ids, shared clamped positions, padding; ActionSpec."""
import json

import gymnasium as gym
import pytest
import torch

from tzoo.tokenizers.actions import ActionSpec
from tzoo.tokenizers.types import ACTION, RETURN, STATE

from .tiny import CONTINUOUS, DISCRETE, batch, tiny_model


@pytest.mark.parametrize("action", [DISCRETE, CONTINUOUS])
def test_dt_interleaves_return_state_action(action):
    tok, _, _ = tiny_model(action)
    traj = batch(action)["trajectory"]
    tokens = tok(**traj)
    b, k = traj["returns"].shape
    assert tokens.embeds.shape == (b, 3 * k, 32)
    assert tokens.type_ids.tolist() == [[RETURN, STATE, ACTION] * k]
    torch.testing.assert_close(tokens.embeds[:, 0::3], tok.return_embed(traj["returns"].unsqueeze(-1)))
    torch.testing.assert_close(tokens.embeds[:, 1::3], tok.state_embed(traj["states"]))
    torch.testing.assert_close(tokens.embeds[:, 2::3], tok.embed_actions(traj["actions"]))


def test_bc_has_state_action_tokens_only():
    tok, _, task = tiny_model(DISCRETE, kind="bc")
    traj = batch(DISCRETE)["trajectory"]
    tokens = tok(**traj)
    assert tok.return_embed is None and tok.tokens_per_step == task.tokens_per_step == 2
    assert tokens.type_ids.tolist() == [[STATE, ACTION] * 5]
    torch.testing.assert_close(tokens.embeds[:, 0::2], tok.state_embed(traj["states"]))


def test_step_tokens_share_the_clamped_timestep():
    tok, _, _ = tiny_model(DISCRETE, max_timestep=10)
    traj = batch(DISCRETE, k=4, start=7)["trajectory"]  # timesteps 7, 8, 9, 10
    positions = tok(**traj).positions
    assert positions[0].tolist() == [7, 7, 7, 8, 8, 8, 9, 9, 9, 9, 9, 9]


def test_mask_is_interleaved_and_padding_zeroed():
    mask = torch.tensor([[True, True, False]])
    traj = batch(DISCRETE, b=1, k=3, mask=mask)["trajectory"]
    traj["actions"][0, 2] = -1  # junk padding id must not break the embedding
    traj["states"][0, 2] = float("nan")
    tok, _, _ = tiny_model(DISCRETE)
    tokens = tok(**traj)
    assert tokens.mask[0].tolist() == [True] * 6 + [False] * 3
    assert torch.isfinite(tokens.embeds).all()


def test_token_set_slice_keeps_ids_positions_and_mask_of_the_cut():
    tok, _, _ = tiny_model(DISCRETE)
    tokens = tok(**batch(DISCRETE)["trajectory"])
    part = tokens.slice(2, 5)
    torch.testing.assert_close(part.embeds, tokens.embeds[:, 2:5])
    assert torch.equal(part.mask, tokens.full_mask()[:, 2:5])
    assert part.type_ids.tolist() == [[ACTION, RETURN, STATE]]
    assert part.positions.tolist() == tokens.positions[:, 2:5].tolist()


def test_action_spec_round_trips_through_json():
    for spec in (DISCRETE, CONTINUOUS):
        assert ActionSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert ActionSpec.from_space(gym.spaces.Discrete(4)) == ActionSpec.discrete_of(4)
    shifted = ActionSpec.from_space(gym.spaces.Discrete(3, start=-1))
    assert shifted.start == -1 and ActionSpec.from_dict(shifted.to_dict()) == shifted
    box = ActionSpec.from_space(gym.spaces.Box(-2.0, 2.0, (1,)))
    assert box.dim == 1 and box.low == (-2.0,) and box.high == (2.0,)
    with pytest.raises(ValueError):
        ActionSpec.from_space(gym.spaces.Box(-float("inf"), 1.0, (2,)))
    with pytest.raises(ValueError):
        ActionSpec.box([1.0], [0.0])
