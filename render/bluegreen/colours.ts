import { Colour } from "./constants";

export { digestOf } from "../images";

/** What the host reports after a blue/green deploy: which colour serves and what each runs. */
export interface ColourImages {
  blue: string;
  green: string;
  live: Colour;
}
