"""ComfyUI folder_paths.py: the model folders and the user directory, set by the tests."""

import os

folder_names_and_paths: dict[str, list[str]] = {"checkpoints": []}
user_directory = ""


def get_filename_list(folder_name):
    names = []
    for folder in folder_names_and_paths.get(folder_name, []):
        if os.path.isdir(folder):
            names += sorted(n for n in os.listdir(folder) if n.endswith((".safetensors", ".ckpt")))
    return names


def get_full_path(folder_name, filename):
    for folder in folder_names_and_paths.get(folder_name, []):
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            return path
    return None


def get_user_directory():
    return user_directory
