"""Seeded JSONL corpora for the validation benchmark, shaped like LLM fine-tuning data.

Nine records in ten are English prose in the style of chat assistants: paragraphs, Markdown lists
and code blocks, so strings carry the `\\n`, `\\"` and `\\\\` escapes real data has. One record in
ten is in another language (Japanese, Chinese, Russian, German, Spanish or French), so non-ASCII
decoding stays on the measured path. Turn lengths are log-normal, giving records of a few KB.
About 0.5 % of records repeat an earlier one exactly, as scraped and merged datasets do.

A corpus of N MB is the first N MB of one seeded stream, so smaller corpora are prefixes of
larger ones and differ only in size.
"""

from __future__ import annotations

import math
import random
from collections import deque
from pathlib import Path

import orjson

ENGLISH = (
    "the of and to a in is it you that he was for on are with as I his they be at one have this from "
    "or had by not word but what some we can out other were all there when up use your how said an "
    "each she which do their time if will way about many then them write would like so these her long "
    "make thing see him two has look more day could go come did number sound no most people my over "
    "know water than call first who may down side been now find any new work part take get place made "
    "live where after back little only round man year came show every good me give our under name very "
    "through just form sentence great think say help low line differ turn cause much mean before move "
    "right boy old too same tell does set three want air well also play small end put home read hand "
    "port large spell add even land here must big high such follow act why ask men change went light "
    "kind off need house picture try us again animal point mother world near build self earth father "
    "model data training token batch user answer question function value error request response file "
    "example method result input output default server client config version install update return "
    "memory performance security password account settings document support customer schedule budget"
).split()
LANGUAGES = {
    "ja": (
        "私 は 学生 です この 問題 について 説明 して ください データ を 確認 する 必要 が あります "
        "モデル の 学習 に は 時間 が かかり ます 設定 ファイル を 開いて パスワード を 変更 し ました "
        "結果 は 次の とおり です 東京 大阪 会議 予定 資料 質問 回答 お願い いたします"
    ).split(),
    "zh": (
        "我 们 的 数据 模型 训练 需要 时间 请 解释 这个 问题 文件 设置 密码 修改 结果 如下 会议 "
        "安排 资料 回答 谢谢 可以 使用 方法 系统 用户 服务器 版本 更新 错误 请求"
    ).split(),
    "ru": (
        "мы данные модель обучение нужно время пожалуйста объясните этот вопрос файл настройки пароль "
        "изменить результат следующий встреча расписание ответ спасибо можно использовать метод "
        "система пользователь сервер версия обновление ошибка запрос"
    ).split(),
    "de": (
        "wir die Daten Modell Training braucht Zeit bitte erklären Sie diese Frage Datei Einstellungen "
        "Passwort ändern Ergebnis folgt Besprechung Zeitplan Antwort danke können verwenden Methode "
        "System Benutzer Server Version Aktualisierung Fehler Anfrage größer über schön"
    ).split(),
    "es": (
        "nosotros los datos modelo entrenamiento necesita tiempo por favor explique esta pregunta "
        "archivo configuración contraseña cambiar resultado siguiente reunión horario respuesta gracias "
        "puede usar método sistema usuario servidor versión actualización error solicitud año"
    ).split(),
    "fr": (
        "nous les données modèle entraînement faut temps merci expliquez cette question fichier "
        "paramètres mot de passe changer résultat suivant réunion calendrier réponse pouvez utiliser "
        "méthode système utilisateur serveur version mise à jour erreur requête élève"
    ).split(),
}
UNSPACED = {"ja", "zh"}
SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a customer support agent for a software company. Answer briefly and politely.",
    "You are an expert Python programmer. Explain your reasoning and show code when it helps.",
    "Answer in the language of the question.",
)
CODE = (
    'def load(path: str) -> dict:\n    with open(path, "r") as file:\n        return json.load(file)\n',
    'for item in items:\n    if item["score"] > 0.5:\n        print(f"{item[\'name\']}: ok")\n',
    'SELECT name, count(*) FROM users\nWHERE created_at > "2024-01-01"\nGROUP BY name;\n',
    'const response = await fetch(url, { method: "POST" });\nconsole.log(await response.json());\n',
    'pattern = re.compile(r"\\d+\\.\\d+")\n',
)
MULTILINGUAL_SHARE = 0.1
DUPLICATE_SHARE = 0.005


class Writer:
    """Text of one record's turns, in English or in the record's language."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.language = rng.choice(list(LANGUAGES)) if rng.random() < MULTILINGUAL_SHARE else "en"

    def words(self, count: int) -> str:
        vocabulary = ENGLISH if self.language == "en" else LANGUAGES[self.language]
        separator = "" if self.language in UNSPACED else " "
        return separator.join(self.rng.choices(vocabulary, k=count))

    def sentence(self) -> str:
        text = self.words(self.rng.randint(5, 22))
        end = "。" if self.language in UNSPACED else self.rng.choice((".", ".", ".", "?", "!"))
        return text[:1].upper() + text[1:] + end

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(1, 5)))

    def text(self, median_words: int) -> str:
        """Text of about `median_words` words (log-normal): paragraphs, sometimes a list or code."""
        target = max(3, int(self.rng.lognormvariate(math.log(median_words), 0.7)))
        parts, words = [], 0
        while words < target:
            roll = self.rng.random()
            if roll < 0.1:
                parts.append("\n".join(f"{number}. {self.sentence()}" for number in range(1, 4)))
            elif roll < 0.15 and self.language == "en":
                parts.append("```python\n" + self.rng.choice(CODE) + "```")
            else:
                parts.append(self.paragraph())
            words += len(parts[-1]) // 6 + 1
        return "\n\n".join(parts)


def chat_record(rng: random.Random) -> dict:
    writer = Writer(rng)
    messages = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}] if rng.random() < 0.3 else []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        messages.append({"role": "user", "content": writer.text(30)})
        messages.append({"role": "assistant", "content": writer.text(140)})
    return {"messages": messages}


def preference_record(rng: random.Random) -> dict:
    writer = Writer(rng)
    return {"prompt": writer.text(40), "chosen": writer.text(140), "rejected": writer.text(100)}


def break_record(record: dict, rng: random.Random) -> bytes:
    """Return one bad line of a kind both validators reject."""
    kind = rng.randrange(6)
    if kind == 0:
        return orjson.dumps(record)[:-7]  # truncated JSON
    if kind == 1:  # a duplicate key: the last message's content, or rejected, written twice
        line = orjson.dumps(record)
        key = b'"content":' if "messages" in record else b'"rejected":'
        at = line.rfind(key) + len(key)
        return line[:at] + b'"again",' + line[at - len(key) :]
    if "messages" in record:
        last = record["messages"][-1]
        if kind == 2:
            del last["content"]
        elif kind == 3:
            last["content"] = " \n"
        elif kind == 4:
            last["role"] = "user"
        else:
            last["content"] = 7
    else:
        if kind == 2:
            del record["chosen"]
        elif kind == 3:
            record["rejected"] = ""
        elif kind == 4:
            record["rejected"] = record["chosen"] + " "
        else:
            record["prompt"] = None
    return orjson.dumps(record)


def generate(directory: Path, kind: str, megabytes: int, bad_fraction: float) -> Path:
    """Write (once) and return the corpus of `kind` ("chat" or "preference") of `megabytes` MB."""
    path = directory / f"{kind}-{megabytes}mb-{int(bad_fraction * 1000)}permille.jsonl"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{kind}-{bad_fraction}")
    make = chat_record if kind == "chat" else preference_record
    recent: deque[bytes] = deque(maxlen=1000)
    size, limit = 0, megabytes * 1_000_000
    temporary = path.with_suffix(".partial")
    with temporary.open("wb") as file:
        while size < limit:
            if recent and rng.random() < DUPLICATE_SHARE:
                line = rng.choice(recent)
            elif rng.random() < bad_fraction:
                line = break_record(make(rng), rng)
            else:
                line = orjson.dumps(make(rng))
                recent.append(line)
            file.write(line + b"\n")
            size += len(line) + 1
    temporary.rename(path)
    return path
