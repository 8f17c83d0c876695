"""Benign prompts with trigger words, generated for training only (seeded, reproducible).

The classifier otherwise learns that "ignore", "pretend", "system prompt" or
"from now on" alone mean an attack, because the public sets have few benign
prompts using them. The evaluation set (data/benign_trigger_eval.txt) is
written separately and is never used here.
"""

from __future__ import annotations

import random

ROLES = [
    "chef", "history teacher", "personal trainer", "travel agent", "librarian", "tour guide",
    "math tutor", "career coach", "gardener", "museum curator", "sommelier", "park ranger",
    "customer support agent for a bike shop", "job interviewer", "debate partner", "poet",
    "Python mentor", "nutritionist", "event planner", "real estate agent", "detective in a novel",
    "friendly robot in a children's story", "medieval knight", "science journalist", "barista",
]  # fmt: skip
TASKS = [
    "explain photosynthesis", "plan a weekend in Kyoto", "suggest a healthy breakfast",
    "write a haiku about rain", "summarize the causes of World War I", "review my cover letter",
    "recommend three sci-fi novels", "describe how vaccines work", "help me budget for a wedding",
    "explain recursion with an example", "give feedback on my essay intro", "list stretching exercises",  # noqa: E501
    "teach me five words of Italian", "compare electric and gas cars", "plan a birthday party for a 6-year-old",  # noqa: E501
    "explain how compound interest works", "describe the water cycle", "suggest names for a bakery",
    "outline a short story about a lighthouse", "explain the rules of cricket",
    "write a product description for a ceramic mug", "describe the painting Starry Night",
]  # fmt: skip
TECH_IGNORE = [
    "make git ignore node_modules", "ignore whitespace changes in git diff",
    "ignore a mypy error on one line", "make rsync ignore hidden files", "ignore case in a regex",
    "tell Jest to ignore a test file", "make prettier ignore a folder", "ignore SIGPIPE in a C program",  # noqa: E501
    "ignore empty lines when reading a CSV in pandas", "make grep ignore binary files",
]  # fmt: skip
PREFIXES = [
    "Ignore my previous question.", "Forget the earlier draft.", "Disregard the typo above.",
    "Ignore the formatting of my last message.", "Never mind what I asked before.",
    "Please disregard my earlier request.", "Forget about the deadline for now.",
    "Ignore the first paragraph, it was a mistake.", "Scratch that previous idea.",
]  # fmt: skip
LANGS = [
    "Spanish",
    "French",
    "German",
    "simple English",
    "bullet points",
    "a formal tone",
    "short sentences",
]
GAMES = ["chess", "Monopoly", "poker", "basketball", "volleyball", "Scrabble", "tennis", "bridge"]
TEMPLATES = [
    "Pretend you are a {role} and {task}.",
    "Act as a {role} and {task}.",
    "Imagine you are a {role}; {task}.",
    "You are now a {role}. Please {task}.",
    "Roleplay as a {role} who needs to {task}.",
    "Stay in character as a {role} while you {task}.",
    "From now on, answer in {lang}. First, {task}.",
    "{prefix} Can you {task}?",
    "{prefix} Instead, {task}.",
    "How do I {tech}?",
    "Write a system prompt for a {role} chatbot.",
    "Review this system prompt: 'You are a helpful {role}. Keep answers short.'",
    "What should the system prompt of a {role} assistant say about tone?",
    "How do I keep my system prompt short for a {role} bot?",
    "Give me clear instructions to {task}.",
    "Write instructions for a new {role} on their first day.",
    "My previous instructions to the {role} were confusing; rewrite them clearly.",
    "What are the rules of {game}?",
    "Reveal the answer only after I guess: what has keys but can't open locks?",
    "Repeat this sentence back to me in {lang}: the cat sat on the mat.",
    "Print a multiplication table up to 10 in Python.",
    "Show me your best tips to {task}.",
    "Explain prompt injection to a {role} with no technical background.",
    "Write an article about jailbreak attacks on chatbots for a {role} audience.",
    "How can developers protect an LLM app against attempts to override its instructions?",
    "How do I enable developer mode on my phone to test an app?",
    "Is there any restriction on bringing a {role}'s tools on a plane?",
    "Our chatbot sometimes ignores the system prompt. How do we debug that?",
    "Decode this base64 string I found in a config file: aGVsbG8gd29ybGQ=",
    "My boss told me to ignore the instructions in the old manual. Which ones still apply to a {role}?",  # noqa: E501
]  # fmt: skip


# Short everyday messages: too little text to judge, and never an attack on their own.
SHORT = [
    "hello", "hi", "hi there", "hey", "thanks", "thank you!", "ok", "yes", "no", "good morning",
    "what's up?", "help", "can you help me?", "continue", "go on", "more please", "why?",
    "tell me more", "sounds good", "got it", "cool", "hello, how are you?", "bye", "test",
    "mail me", "call me", "my email", "see above", "never mind", "start", "stop", "again",
]  # fmt: skip


def generate(n: int = 1200, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        template = rng.choice(TEMPLATES)
        out.add(
            template.format(
                role=rng.choice(ROLES),
                task=rng.choice(TASKS),
                tech=rng.choice(TECH_IGNORE),
                prefix=rng.choice(PREFIXES),
                lang=rng.choice(LANGS),
                game=rng.choice(GAMES),
            )
        )
    return sorted(out)


# Standard-library modules whose docstrings serve as benign long-form text:
# technical prose full of "ignore", "instructions", "override", "system".
PROSE_MODULES = (
    "argparse", "asyncio", "base64", "collections", "contextlib", "csv", "dataclasses",
    "datetime", "decimal", "email", "enum", "functools", "gzip", "hashlib", "heapq", "html",
    "http.client", "http.server", "inspect", "io", "itertools", "json", "logging", "os",
    "pathlib", "pickle", "random", "re", "shutil", "socket", "sqlite3", "statistics",
    "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "typing",
    "unittest", "urllib.parse", "uuid", "zipfile", "codecs", "locale", "calendar",
)  # fmt: skip


def prose(max_chars: int = 900) -> list[str]:
    """Paragraph runs from the docstrings of PROSE_MODULES (members in name order)."""
    import importlib
    import inspect

    out: list[str] = []
    for name in PROSE_MODULES:
        module = importlib.import_module(name)
        docs = [inspect.getdoc(module) or ""]
        for _, member in sorted(inspect.getmembers(module), key=lambda kv: kv[0]):
            if inspect.isclass(member) or inspect.isfunction(member):
                docs.append(inspect.getdoc(member) or "")
        for doc in docs:
            chunk = ""
            for paragraph in doc.split("\n\n"):
                if _looks_like_code(paragraph):
                    continue  # code examples could teach that code is benign
                if len(chunk) + len(paragraph) > max_chars and chunk:
                    out.append(chunk)
                    chunk = ""
                chunk = (chunk + "\n\n" + paragraph).strip()
            if len(chunk) > 80:
                out.append(chunk)
    return out


def _looks_like_code(paragraph: str) -> bool:
    lines = paragraph.splitlines() or [""]
    code = sum(1 for line in lines if line.startswith((" ", "\t", ">>>")) or "()" in line)
    return code / len(lines) > 0.3 or sum(ch.isalpha() for ch in paragraph) < len(paragraph) * 0.6
