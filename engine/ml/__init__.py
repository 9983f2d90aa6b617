"""The ML layer: loading models, the trainers (transformers' Trainer and trl's), losses, scoring and generation.

    loading       load_tokenizer / load_classifier / load_policy / load_reward_model, precision, LoRA
    callbacks     one Trainer callback (progress, curves, cancel), one arguments builder, out-of-memory errors
    classifier    soft-label classifier finetuning (Burns et al. losses) and labelling
    trl_trainers  SFT, DPO / length-normalised DPO / SimPO / ORPO, soft-label reward models
    losses        the student losses and the preference-loss spec
    pairs         preference pairs and tokenisation as trl cuts it
    scoring       pooled logits, p(class 1), log-probs, rewards, activations
    generation    greedy and sampled completions
    scorers       gold scorers (fact checker, reward models, toxicity)

Only worker processes import this package's modules; each imports torch, transformers and trl inside functions,
so importing a module name stays light.
"""
